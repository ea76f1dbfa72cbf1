"""The report picture: calendar shades per day, streak, minutes per zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from device import report
from device.logdb import SessionRecord, ZoneProgress

TZ = ZoneInfo("Europe/Paris")
NOW = datetime(2024, 5, 31, 20, 0, tzinfo=TZ)


def session(days_ago: int, minutes: float, zones=(("neck", 1.0),), outcome="completed") -> SessionRecord:
    start = (NOW - timedelta(days=days_ago, hours=2)).timestamp()
    return SessionRecord(id=f"s{days_ago}-{minutes}", device_id="d", routine_name="daily",
                         routine_hash="h", intensity=3, wall_start=start, wall_trusted=True,
                         boot_id="b", mono_start=0.0, active_seconds=minutes * 60, outcome=outcome,
                         wall_end=start + minutes * 60, seq=1,
                         zones=tuple(ZoneProgress(z, 60, share * minutes * 60) for z, share in zones))


def colour_of(image, day) -> tuple:
    box = report.cell_box(day, NOW.date())
    return image.getpixel(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2))


def test_calendar_shades_days_by_minutes():
    sessions = [session(0, 25), session(1, 3), session(3, 12), session(81, 8)]
    image = report.render(sessions, now_wall=NOW.timestamp(), tz=TZ)
    today = NOW.date()
    assert colour_of(image, today) == report.SHADES[3][1]                       # 25 min
    assert colour_of(image, today - timedelta(days=1)) == report.SHADES[0][1]   # 3 min
    assert colour_of(image, today - timedelta(days=2)) == report.EMPTY
    assert colour_of(image, today - timedelta(days=3)) == report.SHADES[2][1]   # 12 min
    assert colour_of(image, today - timedelta(days=81)) == report.SHADES[1][1]  # the first day shown
    assert report.cell_box(today + timedelta(days=1), today) is None
    assert report.cell_box(report.first_day(today) - timedelta(days=1), today) is None


def test_twelve_weeks_end_with_this_week():
    today = NOW.date()                     # a Friday
    first = report.first_day(today)
    assert first.weekday() == 0 and (today - first).days == 11 * 7 + 4


def test_zone_bars_are_proportional_and_sorted():
    sessions = [session(0, 10, zones=(("cheeks", 0.75), ("neck", 0.25)))]
    image = report.render(sessions, now_wall=NOW.timestamp(), tz=TZ)
    row_y = report.CALENDAR_TOP + 9
    green = [x for x in range(report.ZONE_LEFT, report.WIDTH) if image.getpixel((x, row_y)) == report.BAR_COLOUR]
    second = [x for x in range(report.ZONE_LEFT, report.WIDTH)
              if image.getpixel((x, row_y + 24)) == report.BAR_COLOUR]
    assert len(green) == report.zone_bar_length(7.5, 7.5) + 1
    assert len(second) == report.zone_bar_length(2.5, 7.5) + 1


def test_streak_is_drawn(tmp_path):
    with_streak = report.render([session(0, 10), session(1, 10)], now_wall=NOW.timestamp(), tz=TZ)
    without = report.render([session(5, 10), session(6, 10)], now_wall=NOW.timestamp(), tz=TZ)
    header = (0, 0, 200, 45)
    assert with_streak.crop(header).tobytes() != without.crop(header).tobytes()
    out = tmp_path / "report.png"
    report.save_png(with_streak, out)
    assert out.read_bytes().startswith(b"\x89PNG") and list(tmp_path.iterdir()) == [out]
