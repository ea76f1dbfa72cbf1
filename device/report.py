"""`facepace report`: one picture of the history — a calendar, the streak, minutes per zone.

A pure function from sessions to a Pillow image (the CLI and the USB-drive export only
save it). Days are local calendar days, as for the streak on the device.
"""

from __future__ import annotations

import io
import os
from datetime import date, timedelta, tzinfo
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from device import history
from device.logdb import SessionRecord

WEEKS = 12
CELL, GAP = 22, 4
MARGIN = 24
CALENDAR_TOP = 70
WIDTH, HEIGHT = 760, 300
BACKGROUND, INK, FAINT = (255, 255, 255), (30, 30, 30), (120, 120, 120)
EMPTY = (232, 232, 232)
# Minutes per day from which each shade is used (light to dark green).
SHADES = ((0.01, (198, 228, 139)), (5, (123, 201, 111)), (10, (35, 154, 59)), (20, (25, 97, 39)))
ZONE_LEFT = MARGIN + 30 + WEEKS * (CELL + GAP) + 30   # right of the calendar
BAR_COLOUR = (35, 154, 59)


def minutes_per_day(sessions, tz: tzinfo | None = None) -> dict[date, float]:
    totals: dict[date, float] = {}
    for session in sessions:
        day = history.local_day(session.wall_start, tz)
        totals[day] = totals.get(day, 0.0) + session.active_seconds / 60
    return totals


def shade(minutes: float) -> tuple[int, int, int]:
    colour = EMPTY
    for threshold, shade_colour in SHADES:
        if minutes >= threshold:
            colour = shade_colour
    return colour


def first_day(today: date) -> date:
    """The Monday that starts the calendar: WEEKS whole weeks, the current one last."""
    return history.week_start(today) - timedelta(weeks=WEEKS - 1)


def cell_box(day: date, today: date) -> tuple[int, int, int, int] | None:
    """Where a day's square is drawn (left, top, right, bottom), or None if not shown."""
    offset = (day - first_day(today)).days
    if not 0 <= offset < WEEKS * 7 or day > today:
        return None
    left = MARGIN + 30 + (offset // 7) * (CELL + GAP)
    top = CALENDAR_TOP + (offset % 7) * (CELL + GAP)
    return left, top, left + CELL, top + CELL


def render(sessions: list[SessionRecord], *, now_wall: float, tz: tzinfo | None = None) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    big = ImageFont.load_default(size=20)
    today = history.local_day(now_wall, tz)
    newest_first = sorted(sessions, key=lambda s: s.wall_start, reverse=True)
    streak = history.overview(newest_first, now_wall, tz).streak_days
    longest = history.longest_streak(sessions, tz)
    total_minutes = sum(s.active_seconds for s in sessions) / 60

    draw.text((MARGIN, 14), f"Streak: {streak} {'day' if streak == 1 else 'days'}", font=big, fill=INK)
    draw.text((MARGIN + 200, 20), f"longest {longest} · {len(sessions)} sessions ·"
              f" {total_minutes:.0f} min in all", font=font, fill=FAINT)
    for row, name in enumerate(("Mon", "", "Wed", "", "Fri", "", "Sun")):
        draw.text((MARGIN, CALENDAR_TOP + row * (CELL + GAP) + 4), name, font=font, fill=FAINT)
    per_day = minutes_per_day(sessions, tz)
    start = first_day(today)
    for offset in range(WEEKS * 7):
        day = start + timedelta(days=offset)
        box = cell_box(day, today)
        if box is not None:
            draw.rectangle(box, fill=shade(per_day.get(day, 0.0)))
        if offset % 28 == 0:
            draw.text((box[0] if box else 0, CALENDAR_TOP - 20), day.strftime("%d %b"), font=font, fill=FAINT)
    draw.text((MARGIN, HEIGHT - 30), "minutes per day, last 12 weeks", font=font, fill=FAINT)

    draw.text((ZONE_LEFT, CALENDAR_TOP - 20), "Time per zone", font=font, fill=INK)
    zones = history.zone_minutes(sessions)[:8]
    most = max((minutes for _, minutes in zones), default=0) or 1
    for row, (zone, minutes) in enumerate(zones):
        top = CALENDAR_TOP + row * 24
        draw.text((ZONE_LEFT, top + 2), zone[:12], font=font, fill=INK)
        length = zone_bar_length(minutes, most)
        draw.rectangle((ZONE_LEFT + 100, top + 2, ZONE_LEFT + 100 + length, top + 16), fill=BAR_COLOUR)
        draw.text((ZONE_LEFT + 108 + length, top + 2), history.format_duration(minutes * 60), font=font, fill=FAINT)
    return image


def zone_bar_length(minutes: float, most: float) -> int:
    return max(1, round(200 * minutes / most))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(image: Image.Image, path: Path) -> None:
    """Written under a temporary name and renamed: never a half picture under the real name."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_bytes(png_bytes(image))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
