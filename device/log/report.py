"""`facepace report`: one picture of the history — a calendar, the streak, time per zone.

A pure function from sessions to a Pillow image (the CLI and the USB-drive export only
save it). Days are local calendar days, as for the streak on the device. Zones are named
as the device showed them: by their title in the routine the session ran (sessions store
zone ids only; the titles come from the routines, built-in unless given).
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Iterable, Iterator

from PIL import Image, ImageDraw, ImageFont

from device.log import goals, history
from device.base import timefmt
from device.base.durable import write_atomically
from device.base.errors import UsageError
from device.log.logdb import SessionRecord

WEEKS = 12
CELL, GAP = 22, 4
MARGIN = 24
CALENDAR_TOP = 70
CALENDAR_LEFT = MARGIN + 30
WIDTH, HEIGHT = 800, 300
BACKGROUND, INK, FAINT = (255, 255, 255), (30, 30, 30), (120, 120, 120)
EMPTY = (232, 232, 232)
# Minutes per day from which each shade is used (light to dark green), and what the legend says.
SHADES = ((0.01, (198, 228, 139)), (5, (123, 201, 111)), (10, (35, 154, 59)), (20, (25, 97, 39)))
LEGEND = (("none", EMPTY), ("under 5", SHADES[0][1]), ("5-9", SHADES[1][1]), ("10-19", SHADES[2][1]),
          ("20+", SHADES[3][1]))
LEGEND_TOP = CALENDAR_TOP + 7 * (CELL + GAP) + 14
ZONE_LEFT = CALENDAR_LEFT + WEEKS * (CELL + GAP) + 60   # right of the calendar and its legend
ZONE_ROWS, ZONE_PITCH = 8, 24
ZONE_LABEL_MAX = 140     # pixels; a longer name (a custom zone's id) is shortened
BAR_MAX = 170            # pixels: the zone with the most time
BAR_COLOUR = (35, 154, 59)
MET_COLOUR = (230, 150, 20)   # the mark under a week that met the goal
MET_MARK = 4                  # its height, pixels
DEVICE_ID_CHARS = 8      # enough to tell a person's devices apart
DEVICES_NAMED = 3        # more than this are counted, not all named

# What the file name asks for, as Pillow names the format.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class UnsupportedFormat(UsageError):
    """The picture's file name asks for a format we do not write."""


# --- what is shown ------------------------------------------------------------------------

@dataclass
class Totals:
    """What the picture shows, added up in one pass over the sessions (`add_up`): a number per
    day, zone and device, so a long history is never in memory whole."""

    sessions: int = 0
    active_seconds: float = 0.0
    minutes_per_day: dict[date, float] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)         # ids cut to DEVICE_ID_CHARS
    zone_seconds: dict[tuple[str, str], float] = field(default_factory=dict)  # (routine, zone id)


def add_up(sessions: Iterable[SessionRecord], tz: tzinfo | None = None, *,
           zone_seconds: dict[tuple[str, str], float] | None = None) -> Totals:
    """`zone_seconds`: seconds done per (routine name, zone id) added up already (by SQLite, see
    companion.hostdb); the sessions' own zones are then not read."""
    totals = Totals(zone_seconds=dict(zone_seconds or {}))
    per_zone = defaultdict(float) if zone_seconds is None else None
    for session in sessions:
        day = history.local_day(session.wall_start, tz)
        totals.sessions += 1
        totals.active_seconds += session.active_seconds
        totals.minutes_per_day[day] = totals.minutes_per_day.get(day, 0.0) + session.active_seconds / 60
        totals.devices.add(session.device_id[:DEVICE_ID_CHARS])
        if per_zone is not None:
            for zone in session.zones:
                per_zone[(session.routine_name, zone.zone_id)] += zone.done_seconds
    if per_zone is not None:
        totals.zone_seconds = dict(per_zone)
    return totals


def minutes_per_day(sessions, tz: tzinfo | None = None) -> dict[date, float]:
    return add_up(sessions, tz).minutes_per_day


def shade(minutes: float) -> tuple[int, int, int]:
    colour = EMPTY
    for threshold, shade_colour in SHADES:
        if minutes >= threshold:
            colour = shade_colour
    return colour


def readable(zone_id: str) -> str:
    """A zone no known routine names: its id as words ("under_eye" -> "Under eye")."""
    words = zone_id.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def zone_titles(routines: Iterable) -> dict[tuple[str | None, str], str]:
    """(routine name, zone id) -> title; (None, zone id) -> the first title any routine gives it."""
    titles: dict[tuple[str | None, str], str] = {}
    for routine in routines:
        for zone in routine.zones:
            titles[(routine.name, zone.id)] = zone.title
            titles.setdefault((None, zone.id), zone.title)
    return titles


@cache
def builtin_titles() -> dict[tuple[str | None, str], str]:
    from device.settings.routines import load_library

    return zone_titles(load_library(None).routines)


def title_of(routine_name: str, zone_id: str, titles: dict) -> str:
    return titles.get((routine_name, zone_id)) or titles.get((None, zone_id)) or readable(zone_id)


def seconds_per_zone(sessions: Iterable[SessionRecord], titles: dict) -> list[tuple[str, float]]:
    """Seconds done per zone as the device named it, most first; zones never worked on left out."""
    return seconds_per_title(add_up(sessions).zone_seconds, titles)


def seconds_per_title(zone_seconds: dict[tuple[str, str], float], titles: dict) -> list[tuple[str, float]]:
    """`zone_seconds` (per routine name and zone id) per title, most first; zones never worked on
    left out. Zones of different routines with one title ("Collarbone") are one zone to the person."""
    totals: dict[str, float] = defaultdict(float)
    for (routine_name, zone_id), seconds in zone_seconds.items():
        totals[title_of(routine_name, zone_id, titles)] += seconds
    return sorted(((title, seconds) for title, seconds in totals.items() if seconds > 0),
                  key=lambda item: (-item[1], item[0]))


def devices_line(sessions: Iterable[SessionRecord]) -> str:
    """Which devices the picture adds up ("2 devices: 3f2a9c1e, 77b0d2aa"), by their ids' start."""
    return _devices_text(add_up(sessions).devices)


def _devices_text(devices: set[str]) -> str:
    devices = sorted(devices)
    if not devices:
        return "no sessions yet"
    if len(devices) == 1:
        return f"device {devices[0]}"
    named = ", ".join(devices[:DEVICES_NAMED]) + (", …" if len(devices) > DEVICES_NAMED else "")
    return f"{len(devices)} devices: {named}"


def first_day(today: date, first_weekday: int = 0) -> date:
    """The first day of the week (Monday unless the goal's weeks start on another day) that
    starts the calendar: WEEKS whole weeks, the current one last."""
    return goals.week_start(today, first_weekday) - timedelta(weeks=WEEKS - 1)


def cell_box(day: date, today: date, first_weekday: int = 0) -> tuple[int, int, int, int] | None:
    """Where a day's square is drawn (left, top, right, bottom), or None if not shown."""
    offset = (day - first_day(today, first_weekday)).days
    if not 0 <= offset < WEEKS * 7 or day > today:
        return None
    left = CALENDAR_LEFT + (offset // 7) * (CELL + GAP)
    top = CALENDAR_TOP + (offset % 7) * (CELL + GAP)
    return left, top, left + CELL, top + CELL


def zone_bar_length(seconds: float, most: float) -> int:
    """Pixels, in proportion to the zone with the most time; at least one, so a bar shows."""
    return max(1, round(BAR_MAX * seconds / most))


# --- drawing ----------------------------------------------------------------------------------

def render(sessions: Iterable[SessionRecord], *, now_wall: float, tz: tzinfo | None = None,
           routines: Iterable | None = None, rules: goals.GoalRules | None = None) -> Image.Image:
    """`routines` name the zones (default: the built-in ones); `rules` the weekly goal (default:
    the default goal in `tz`; their own zone wins). The sessions are read once."""
    rules = rules or goals.GoalRules(tz=tz)
    added = goals.Tally(goals.today_of(now_wall, rules), rules)
    return draw(add_up(_told(sessions, added), rules.tz), added, now_wall=now_wall, routines=routines)


def _told(sessions: Iterable[SessionRecord], added: goals.Tally) -> Iterator[SessionRecord]:
    for session in sessions:
        added.add(goals.from_record(session))
        yield session


def draw(totals: Totals, added: goals.Tally, *, now_wall: float, routines: Iterable | None = None) -> Image.Image:
    """The picture of sessions already added up: `totals` (`add_up`) and the weekly goal's
    `added` (`goals.tally`), in the goal's time zone."""
    rules = added.rules
    titles = builtin_titles() if routines is None else zone_titles(routines)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    big = ImageFont.load_default(size=20)
    today = history.local_day(now_wall, rules.tz)
    standing = goals.progress_of(added)

    pen.text((MARGIN, 14), f"Streak: {goals.weeks_phrase(standing.streak_weeks)}", font=big, fill=INK)
    pen.text((MARGIN + 200, 12), goals.week_line(standing, rules.weekly_goal), font=font, fill=INK)
    pen.text((MARGIN + 200, 32), f"longest {goals.weeks_phrase(goals.longest_of(added))} · {totals.sessions} "
             f"sessions · {timefmt.total(totals.active_seconds)} in all · {_devices_text(totals.devices)}",
             font=font, fill=FAINT)
    legend_end = _calendar(pen, font, totals.minutes_per_day, today, rules.week_start)
    _met_weeks(pen, font, goals.weeks_of(added, WEEKS), today, rules.week_start, legend_end)
    _zones(pen, font, seconds_per_title(totals.zone_seconds, titles))
    return image


def _calendar(draw, font, per_day: dict[date, float], today: date, first_weekday: int = 0) -> int:
    """Draws the calendar and its legend; returns where the legend ends."""
    for row in range(0, 7, 2):
        name = goals.WEEKDAYS[(first_weekday + row) % 7][:3].title()
        draw.text((MARGIN, CALENDAR_TOP + row * (CELL + GAP) + 4), name, font=font, fill=FAINT)
    start = first_day(today, first_weekday)
    for offset in range(WEEKS * 7):
        day = start + timedelta(days=offset)
        box = cell_box(day, today, first_weekday)
        if box is not None:
            draw.rectangle(box, fill=shade(per_day.get(day, 0.0)))
        if offset % 28 == 0:
            draw.text((box[0] if box else 0, CALENDAR_TOP - 20), day.strftime("%d %b"), font=font, fill=FAINT)
    # The legend: what each shade means, in minutes a day.
    x = MARGIN
    draw.text((x, LEGEND_TOP), "Minutes a day:", font=font, fill=FAINT)
    x += round(draw.textlength("Minutes a day:", font=font)) + 10
    swatch = 12
    for text, colour in LEGEND:
        draw.rectangle((x, LEGEND_TOP + 2, x + swatch, LEGEND_TOP + 2 + swatch), fill=colour)
        x += swatch + 5
        draw.text((x, LEGEND_TOP), text, font=font, fill=FAINT)
        x += round(draw.textlength(text, font=font)) + 12
    return x + 8


def met_mark_box(week_start: date, today: date, first_weekday: int = 0) -> tuple[int, int, int, int]:
    """The mark under a week's column that says its goal was met."""
    column = (week_start - first_day(today, first_weekday)).days // 7
    left = CALENDAR_LEFT + column * (CELL + GAP)
    top = CALENDAR_TOP + 7 * (CELL + GAP)
    return left, top, left + CELL, top + MET_MARK


def _met_weeks(draw, font, weeks: list, today: date, first_weekday: int, x: int) -> None:
    for week in weeks:
        if week.met:
            draw.rectangle(met_mark_box(week.start, today, first_weekday), fill=MET_COLOUR)
    # Said once, after the shades' legend (at x).
    text = "week's goal met"
    draw.rectangle((x, LEGEND_TOP + 2 + 5, x + 12, LEGEND_TOP + 2 + 5 + MET_MARK), fill=MET_COLOUR)
    draw.text((x + 17, LEGEND_TOP), text, font=font, fill=FAINT)


def _zones(draw, font, zones: list[tuple[str, float]]) -> None:
    heading = "Time per zone"
    draw.text((ZONE_LEFT, CALENDAR_TOP - 20), heading, font=font, fill=INK)
    if len(zones) > ZONE_ROWS:
        draw.text((ZONE_LEFT + draw.textlength(heading + " ", font=font), CALENDAR_TOP - 20),
                  f"(top {ZONE_ROWS} of {len(zones)})", font=font, fill=FAINT)
    shown = [(_fitted(draw, title, font, ZONE_LABEL_MAX), seconds) for title, seconds in zones[:ZONE_ROWS]]
    bars_left = ZONE_LEFT + max((round(draw.textlength(t, font=font)) for t, _ in shown), default=0) + 10
    most = max((seconds for _, seconds in shown), default=0) or 1
    for row, (title, seconds) in enumerate(shown):
        top = CALENDAR_TOP + row * ZONE_PITCH
        draw.text((ZONE_LEFT, top + 2), title, font=font, fill=INK)
        length = zone_bar_length(seconds, most)
        draw.rectangle((bars_left, top + 2, bars_left + length, top + 16), fill=BAR_COLOUR)
        draw.text((bars_left + length + 8, top + 2), timefmt.total(seconds), font=font, fill=FAINT)


def _fitted(draw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


# --- saving -----------------------------------------------------------------------------------

def format_for(path: Path) -> str:
    """The format `path`'s name asks for; UnsupportedFormat names the ones we write."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        kind = f"{suffix} pictures" if suffix else "a picture without an extension"
        raise UnsupportedFormat(f"{path}: cannot write {kind}; use a name ending in "
                                f"{', '.join(list(FORMATS)[:-1])} or {list(FORMATS)[-1]}")
    return FORMATS[suffix]


def encoded(image: Image.Image, file_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=file_format, **({"quality": 90} if file_format == "JPEG" else {}))
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    return encoded(image, "PNG")


def save(image: Image.Image, path: Path) -> None:
    """In the format the name asks for, durably: never a half picture under the real name."""
    path = Path(path)
    write_atomically(path, encoded(image, format_for(path)))
