"""The report picture: calendar shades per day with a legend, streak, devices, time per zone."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from device.log import report
from device.log.logdb import SessionRecord, ZoneProgress
from device.settings.routines import Routine, Zone

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
    """7.5 and 2.5 minutes: the first bar is the longest there is, the second a third of it."""
    sessions = [session(0, 10, zones=(("cheeks", 0.75), ("neck", 0.25)))]
    image = report.render(sessions, now_wall=NOW.timestamp(), tz=TZ)

    def bar_pixels(row: int) -> int:
        y = report.CALENDAR_TOP + 9 + row * report.ZONE_PITCH
        return sum(image.getpixel((x, y)) == report.BAR_COLOUR for x in range(report.ZONE_LEFT, report.WIDTH))

    assert bar_pixels(0) == report.BAR_MAX + 1                 # drawn from x to x + length
    assert bar_pixels(1) == round(report.BAR_MAX / 3) + 1


def test_streak_is_drawn():
    """This week (Monday to today, a Friday) met the goal of 5 days, or has 4 of them so far."""
    with_streak = report.render([session(day, 10) for day in range(0, 5)], now_wall=NOW.timestamp(), tz=TZ)
    without = report.render([session(day, 10) for day in range(1, 5)], now_wall=NOW.timestamp(), tz=TZ)
    header = (0, 0, 200, 45)
    assert with_streak.crop(header).tobytes() != without.crop(header).tobytes()


# --- zones by the names the device showed -----------------------------------------------------

def of_routine(routine: str, zones, day: int = 0) -> SessionRecord:
    return replace(session(day, 1.0), routine_name=routine, id=f"{routine}{day}",
                   zones=tuple(ZoneProgress(zone_id, 60, seconds) for zone_id, seconds in zones))


def test_zones_are_named_by_their_titles_in_the_routine_that_ran():
    sessions = [of_routine("daily", [("neck", 60), ("under-eye", 50), ("serum", 20)]),
                of_routine("evening", [("neck", 40), ("oil", 20)])]
    assert report.seconds_per_zone(sessions, report.builtin_titles()) == [
        ("Neck sides", 60), ("Under-eye", 50), ("Neck", 40), ("Oil/serum", 20), ("Warm oil", 20)]


def test_zones_of_one_title_add_up_and_unknown_ids_read_as_words():
    """The lymphatic routine's "open-collarbone" and the daily one's "collarbone" are both
    "Collarbone" on the screen; a zone of a routine this computer does not have keeps its id,
    made readable, unless a built-in names that id."""
    sessions = [of_routine("lymphatic", [("open-collarbone", 45)]),
                of_routine("daily", [("collarbone", 40)], day=1),
                of_routine("my-own", [("under_eye", 30), ("cheeks", 10)], day=2)]
    assert report.seconds_per_zone(sessions, report.builtin_titles()) == [
        ("Collarbone", 85), ("Under eye", 30), ("Cheeks", 10)]


def test_the_picture_labels_zones_by_title_not_id():
    """Two ids, one title: the zone column reads the same, where it read "open-collarb" and "collarbone"."""
    lymphatic = of_routine("lymphatic", [("open-collarbone", 45)])
    daily = replace(lymphatic, routine_name="daily", zones=(ZoneProgress("collarbone", 60, 45),))
    column = (report.ZONE_LEFT, report.CALENDAR_TOP, report.WIDTH, report.HEIGHT)
    pictures = [report.render([s], now_wall=NOW.timestamp(), tz=TZ).crop(column) for s in (lymphatic, daily)]
    assert pictures[0].tobytes() == pictures[1].tobytes()
    assert report.BAR_COLOUR in {colour for _, colour in pictures[0].getcolors(1 << 16)}   # not blank


def test_titles_come_from_the_routines_given():
    mine = Routine("my-own", "Mine", "", (Zone("under_eye", "Eyes", "Light", 30, 0, 1, 1),), Path("m"), "h")
    sessions = [of_routine("my-own", [("under_eye", 30)])]
    assert report.seconds_per_zone(sessions, report.zone_titles([mine])) == [("Eyes", 30)]


@pytest.mark.parametrize(("zone_id", "words"), [
    ("under_eye", "Under eye"), ("open-collarbone", "Open collarbone"), ("x", "X"), ("neck2", "Neck2"),
])
def test_readable_zone_ids(zone_id, words):
    assert report.readable(zone_id) == words


# --- the legend and the devices -----------------------------------------------------------------

def test_the_calendar_has_a_legend_of_every_shade_beside_it():
    image = report.render([session(0, 10)], now_wall=NOW.timestamp(), tz=TZ)
    band = image.crop((0, report.LEGEND_TOP, report.ZONE_LEFT, report.HEIGHT))
    colours = {colour for _, colour in band.getcolors(band.width * band.height)}
    assert {report.EMPTY, *(colour for _, colour in report.SHADES)} <= colours
    assert [text for text, _ in report.LEGEND] == ["none", "under 5", "5-9", "10-19", "20+"]
    assert [colour for _, colour in report.LEGEND] == [report.EMPTY, *(c for _, c in report.SHADES)]


@pytest.mark.parametrize(("devices", "line"), [
    ([], "no sessions yet"),
    (["3f2a9c1e-0000"], "device 3f2a9c1e"),
    (["77b0d2aa-1111", "3f2a9c1e-0000", "3f2a9c1e-0000"], "2 devices: 3f2a9c1e, 77b0d2aa"),
    (["a" * 9, "b" * 9, "c" * 9, "d" * 9], "4 devices: aaaaaaaa, bbbbbbbb, cccccccc, …"),
])
def test_the_picture_says_which_devices_it_adds_up(devices, line):
    sessions = [replace(session(day, 10), device_id=device) for day, device in enumerate(devices)]
    assert report.devices_line(sessions) == line


def test_mixed_devices_show_in_the_header():
    one = [session(0, 10), session(1, 10)]
    two = [one[0], replace(one[1], device_id="another")]
    header = (0, 0, report.WIDTH, report.CALENDAR_TOP - 25)
    first, second = (report.render(s, now_wall=NOW.timestamp(), tz=TZ).crop(header) for s in (one, two))
    assert first.tobytes() != second.tobytes()


# --- the file: the format its name asks for, written durably -----------------------------------

@pytest.mark.parametrize(("name", "magic", "kind"), [
    ("report.png", b"\x89PNG", "PNG"), ("report.jpg", b"\xff\xd8\xff", "JPEG"),
    ("REPORT.JPEG", b"\xff\xd8\xff", "JPEG"),
])
def test_the_file_is_in_the_format_its_name_asks_for(tmp_path, name, magic, kind):
    out = tmp_path / name
    report.save(report.render([session(0, 10)], now_wall=NOW.timestamp(), tz=TZ), out)
    assert out.read_bytes().startswith(magic) and list(tmp_path.iterdir()) == [out]
    with Image.open(out) as written:
        assert written.format == kind and written.size == (report.WIDTH, report.HEIGHT)


@pytest.mark.parametrize("name", ["report.gif", "report.svg", "report"])
def test_other_names_are_refused_and_nothing_is_written(tmp_path, name):
    with pytest.raises(report.UnsupportedFormat, match=r"\.png, \.jpg or \.jpeg"):
        report.save(report.render([], now_wall=NOW.timestamp(), tz=TZ), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_the_picture_is_fsynced_before_its_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(f"rename {os.path.basename(b)}"),
                                                     real_replace(a, b))[1])
    report.save(report.render([], now_wall=NOW.timestamp(), tz=TZ), tmp_path / "report.jpg")
    assert events == ["fsync", "rename report.jpg", "fsync"]


def test_the_command_refuses_a_name_it_cannot_write_as_a_usage_error(tmp_path, capsys):
    from device.cli.main import main

    code = main(["report", "--out", str(tmp_path / "x.gif"), "--db", str(tmp_path / "h.db")])
    assert code == 2 and "x.gif: cannot write .gif pictures" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(["report", "--out", str(tmp_path / "x.jpg"), "--db", str(tmp_path / "h.db")]) == 0
    assert (tmp_path / "x.jpg").read_bytes().startswith(b"\xff\xd8\xff")


def test_the_command_names_a_picture_it_could_not_write(tmp_path, capsys):
    from device.cli.main import main

    out = tmp_path / "no such folder" / "x.png"
    capsys.readouterr()
    assert main(["report", "--out", str(out), "--db", str(tmp_path / "h.db")]) == 1
    assert capsys.readouterr().err == f"{out}: cannot write: No such file or directory\n"


def test_weeks_that_met_the_goal_are_marked_under_the_calendar():
    """NOW is a Friday: last week has 5 days (met), the week before 4 (not), this week 5 (met)."""
    from device.log import goals

    today = NOW.date()
    days = [0, 1, 2, 3, 4] + [7, 8, 9, 10, 11] + [14, 15, 16, 17]
    image = report.render([session(day, 10) for day in days], now_wall=NOW.timestamp(), tz=TZ)

    def marked(weeks_ago: int) -> bool:
        box = report.met_mark_box(goals.week_start(today) - timedelta(weeks=weeks_ago), today)
        return image.getpixel(((box[0] + box[2]) // 2, box[1] + 1)) == report.MET_COLOUR

    assert [marked(weeks_ago) for weeks_ago in (0, 1, 2, 3)] == [True, True, False, False]
    header = image.crop((0, 0, report.WIDTH, 45))
    assert header.tobytes() != report.render([session(day, 10) for day in days[5:]], now_wall=NOW.timestamp(),
                                             tz=TZ).crop((0, 0, report.WIDTH, 45)).tobytes()


def test_the_calendar_follows_the_goals_first_day_of_the_week():
    from device.log import goals

    today = NOW.date()
    assert report.first_day(today, 6).weekday() == 6
    image = report.render([session(0, 25)], now_wall=NOW.timestamp(), rules=goals.GoalRules(tz=TZ, week_start=6))
    box = report.cell_box(today, today, 6)
    assert box[1] == report.CALENDAR_TOP + 5 * (report.CELL + report.GAP)    # Friday: the 6th row from Sunday
    assert image.getpixel(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)) == report.SHADES[3][1]
