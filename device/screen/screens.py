"""The screens of the 128x64 one-bit OLED: a pure function from a view to a Pillow image.

`layout()` turns a view into items, each owning a box of the panel; `render()` draws them and
`fits()` measures them. Because the check measures exactly what is drawn, a test can prove
that every zone of every routine fits before anyone holds the device.

Size (~475 lines): one function per screen plus the shared layout items; splitting by screen would
scatter the fit checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from PIL import Image, ImageDraw

from device.screen import fonts
from device.base import timefmt
from device.screen.fonts import Box, Font
from device.screen.views import (BatteryView, IdleView, OffView, PausedView, PowerOffView, QuestionView, RestView,
                                 SafetyView, StartingView, SummaryView, SyncView, View, ZoneView)

WIDTH, HEIGHT = 128, 64
LIT = 255  # mode "1" stores lit pixels as 255; drawing with 1 would store a stray 1
ERROR_BAR_HEIGHT = 11  # one line of the small font; each further line adds SMALL_PITCH
NOTICE_LINES = 2  # a long notice is shown in pages of this many lines

# Largest first: a title takes the biggest face it fits in.
TITLE_SIZES = (16, 14, 12, 11)
COUNT_SIZES = (28, 24, 20, 16)
ELLIPSIS = ".."
ROW_GAP = 4  # pixels between two texts on one row
SMALL_PITCH = 11  # rows from one small-font line to the next: 9 of ink, 2 blank
CUE_PITCH = 10  # lines of one text (a cue, a page) sit a row closer
SIDE_SIZE = 11  # the zone screen's LEFT / RIGHT, on the countdown's baseline
PAUSE_WARNING_SECONDS = 60  # the paused screen says when the pause will end the session
DOT_SIZE, DOT_PITCH = 7, 9  # the idle screen's week: a dot per day, as tall as a small letter
WEEK_DOTS_MAX = 7
PROMPT_TOP = 13  # the question's first line, below its heading


@dataclass(frozen=True)
class Label:
    """One line of text kept inside `area`; `wanted` is the text before it was shortened."""

    name: str
    text: str
    font: Font
    area: Box
    align: str = "left"  # "left", "right" or "center"
    wanted: str | None = None
    tracking: int = 0  # blank columns added between letters, for faces whose letters can touch

    def origin(self) -> tuple[int, int]:
        """Pen position: x from the alignment, y so the capitals start at the area's top."""
        left, top, right, _ = self.area
        width = self._ink_from_pen()[2]
        x = {"left": left, "right": right - width, "center": (left + right - width) // 2}[self.align]
        return x, top - self.font.cap_top

    def ink(self) -> Box:
        x, y = self.origin()
        left, top, right, bottom = self._ink_from_pen()
        return (x + left, y + top, x + right, y + bottom)

    def draw(self, canvas: ImageDraw.ImageDraw, fill: int = LIT) -> None:
        x, y = self.origin()
        if not self.tracking:
            canvas.text((x, y), self.text, font=self.font.face, fill=fill)
            return
        for pen, char in zip(self._pens(), self.text):
            canvas.text((x + pen, y), char, font=self.font.face, fill=fill)

    def _pens(self) -> list[int]:
        """Where each letter's pen goes when drawn one by one: its own advance plus the tracking."""
        face = self.font.face
        return [round(face.getlength(self.text[:index])) + index * self.tracking
                for index in range(len(self.text))]

    def _ink_from_pen(self) -> Box:
        """Where the text puts ink when drawn with the label's pen at (0, 0)."""
        if not self.tracking or not self.text.strip():
            return self.font.ink(self.text)
        boxes = [self.font.ink(char) for char in self.text]
        lefts, tops, rights, bottoms = zip(*[(left + pen, top, right + pen, bottom)
                                             for pen, char, (left, top, right, bottom)
                                             in zip(self._pens(), self.text, boxes) if char.strip()])
        return (min(lefts), min(tops), max(rights), max(bottoms))


@dataclass(frozen=True)
class ProgressBar:
    name: str
    area: Box
    fraction: float

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        left, top, right, bottom = self.area
        canvas.rectangle((left, top, right - 1, bottom - 1), outline=LIT)
        filled = round((right - left - 2) * min(1.0, max(0.0, self.fraction)))
        if filled:
            canvas.rectangle((left + 1, top + 1, left + filled, bottom - 2), fill=LIT)


@dataclass(frozen=True)
class LevelBars:
    """Rising bars, the first `level` of them filled, like a phone's signal meter."""

    name: str
    area: Box
    level: int
    steps: int = 5

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        left, top, right, bottom = self.area
        pitch = (right - left + 2) // self.steps  # bar width plus a 2 px gap
        for step in range(self.steps):
            x = left + step * pitch
            bar_top = bottom - 1 - (bottom - top - 1) * (step + 1) // self.steps
            box = (x, bar_top, x + pitch - 3, bottom - 1)
            if step < self.level:
                canvas.rectangle(box, fill=LIT)
            else:
                canvas.rectangle(box, outline=LIT)


@dataclass(frozen=True)
class WeekDots:
    """A dot per day the week asks for, the first `done` of them filled."""

    name: str
    area: Box
    done: int
    dots: int

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        left, top, _, _ = self.area
        for index in range(self.dots):
            x = left + index * DOT_PITCH
            box = (x, top, x + DOT_SIZE - 1, top + DOT_SIZE - 1)
            canvas.ellipse(box, fill=LIT if index < self.done else None, outline=LIT)


@dataclass(frozen=True)
class PauseIcon:
    name: str
    area: Box

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        left, top, right, bottom = self.area
        bar = (right - left) * 2 // 5
        canvas.rectangle((left, top, left + bar - 1, bottom - 1), fill=LIT)
        canvas.rectangle((right - bar, top, right - 1, bottom - 1), fill=LIT)


@dataclass(frozen=True)
class Icon:
    """A small bitmap drawn from rows of "#" (lit) and "." (dark), its top-left at the area's."""

    name: str
    area: Box
    rows: tuple[str, ...]

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        left, top, _, _ = self.area
        canvas.point([(left + x, top + y) for y, row in enumerate(self.rows)
                      for x, pixel in enumerate(row) if pixel == "#"], fill=LIT)


# The streak's flame, as tall as a line of the small font.
FLAME = ("..#....",
         "..##...",
         ".###.#.",
         ".######",
         "#######",
         "###.###",
         "##...##",
         ".#...#.",
         "..###..")


@dataclass(frozen=True)
class ErrorBar:
    name: str
    area: Box

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        left, top, right, bottom = self.area
        canvas.rectangle((left, top, right - 1, bottom - 1), fill=LIT)


Item = Label | ProgressBar | LevelBars | PauseIcon | Icon | ErrorBar | WeekDots


# --- text helpers ---------------------------------------------------------------------------

def minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"


def shortened(text: str, font: Font, width: int) -> str:
    if font.width(text) <= width:
        return text
    while text and font.width(text + ELLIPSIS) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def wrapped(text: str, font: Font, width: int) -> list[str]:
    """Lines of `text`: its own line breaks first, then greedy word wrapping."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and font.width(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def label(name: str, text: str, font: Font, area: Box, *, align: str = "left",
          shorten: bool = False, tracking: int = 0) -> Label:
    """A label; with `shorten`, text too wide for its area ends in an ellipsis (fits() reports it);
    `tracking` adds blank columns between the letters."""
    text = font.printable(text)
    if shorten and tracking:
        raise ValueError("shortening measures untracked text: use one or the other")
    shown = shortened(text, font, area[2] - area[0]) if shorten else text
    return Label(name, shown, font, area, align, wanted=text, tracking=tracking)


def largest_fitting(text: str, sizes: Iterable[int], width: int) -> Font:
    candidates = [fonts.sans(size) for size in sizes]
    return next((font for font in candidates if font.width(text) <= width), candidates[-1])


def line_box(font: Font, left: int, top: int, right: int) -> Box:
    return (left, top, right, top + font.line_height)


# --- layouts, one per view ------------------------------------------------------------------
# Each layout gets the rows above `bottom`: the whole panel, or the rows above the error bar.
# What matters most (the countdown, what the button does) keeps its place; lesser lines give way.

def _zone(view: ZoneView, width: int, bottom: int) -> list[Item]:
    small, big = fonts.small(), fonts.digits(28)
    title_font = largest_fitting(view.zone_title, TITLE_SIZES, width)
    items: list[Item] = [label("zone title", view.zone_title, title_font, line_box(title_font, 0, 0, width))]
    bar_top = bottom - 4
    count_top = bar_top - 2 - big.line_height
    items.append(label("countdown", timefmt.countdown(view.zone_remaining), big,
                       line_box(big, 0, count_top, 78)))
    items.append(label("zone number", f"{view.zone_number}/{view.zone_count}", small,
                       line_box(small, 80, count_top + 1, width), align="right"))
    if view.side:
        # Sans capitals, tracked: the bitmap font's fixed pitch reads "RI GHT", and untracked
        # sans joins the bars of F and T in "LEFT".
        side_font = fonts.capitals(SIDE_SIZE)
        baseline = count_top + big.line_height
        items.append(label("side", view.side.upper(), side_font,
                           (80, baseline - side_font.line_height, width, baseline), align="right",
                           tracking=1))
    done = 1 - view.zone_remaining / view.zone_seconds if view.zone_seconds > 0 else 1.0
    items.append(ProgressBar("zone progress", (0, bar_top, width, bottom), done))
    cue_top = 17  # one row below the largest title's descenders
    room = (count_top - cue_top) // 10
    if view.caution:
        return items + _caution(view.caution, cue_top, room, width)
    cue_lines = wrapped(small.printable(view.cue), small, width)
    for index, line in enumerate(cue_lines[:room]):
        last = index == room - 1 and len(cue_lines) > room
        wanted = " / ".join(cue_lines[index:]) if last else line
        box = line_box(small, 0, cue_top + 10 * index, width)
        items.append(Label(f"cue line {index + 1}", line, small, box, wanted=wanted))
    return items


def _caution(text: str, top: int, room: int, width: int) -> list[Item]:
    """The zone's caution in place of its cue, dark on a lit box so it reads as a warning."""
    small = fonts.small()
    lines = wrapped(small.printable(text), small, width - 2)
    items: list[Item] = [ErrorBar("caution box", (0, top - 1, width, top + 10 * room))]
    for index, line in enumerate(lines[:room]):
        last = index == room - 1 and len(lines) > room
        wanted = " / ".join(lines[index:]) if last else line
        items.append(Label(f"caution line {index + 1}", line, small,
                           line_box(small, 1, top + 10 * index, width - 1), wanted=wanted))
    return items


def _idle(view: IdleView, width: int, bottom: int) -> list[Item]:
    small, length_font = fonts.small(), fonts.digits(16, " min")
    number = f"{view.routine_number}/{view.routine_count}"
    number_left = width - small.width(number)
    items: list[Item] = [label("routine number", number, small, line_box(small, number_left, 0, width))]
    items.extend(_routine_title(view.routine_title, number_left - 4, width))
    items.append(label("routine length", minutes(view.routine_seconds), length_font,
                       line_box(length_font, 0, 19, 80)))
    items.append(LevelBars("intensity", (width - 33, 18, width, 30), view.intensity))
    rows = [_history(view)] if view.week_done is None else [("week", "")]
    if view.week_done is not None and view.status:
        rows.append(("status", view.status))
    elif view.last_session:
        last = f"Last: {view.last_session}"
        rows.append(("last session", last if small.width(last) <= width else view.last_session))
    if view.routines_skipped:  # until the file is fixed, in place of the hints
        count = view.routines_skipped
        rows.append(("skipped", f"{count} routine{'s' if count > 1 else ''} skipped"))
    elif view.battery is not None:   # in place of the hints: the charge matters more
        rows.append(("battery", battery_text(view.battery, small, width)))
    else:
        rows.append(("hint", "press: start", "2x: next" if view.routine_count > 1 else ""))
    # Above the notice bar the last rows give way (the hints first, the history last).
    shown = rows[:rows_room(31, bottom)]
    if shown and shown[0][0] == "week":
        top = bottom - small.line_height - SMALL_PITCH * (len(shown) - 1)
        return items + _week_row(view, top, width) + text_rows(shown[1:], width, bottom)
    return items + text_rows(shown, width, bottom)


def _week_row(view: IdleView, top: int, width: int) -> list[Item]:
    """This week's days as dots (filled: done), the streak of weeks at the right by a flame."""
    small = fonts.small()
    items: list[Item] = []
    if view.week_goal == 0:
        items.append(label("week", "Rest week", small, line_box(small, 0, top, 60)))
    else:
        dots = min(WEEK_DOTS_MAX, max(view.week_goal, view.week_done or 0))
        items.append(WeekDots("week dots", (0, top + 1, dots * DOT_PITCH - 2, top + 1 + DOT_SIZE),
                              view.week_done or 0, dots))
    if view.streak_weeks > 0:
        text = f"{view.streak_weeks} wk"
        left = width - small.width(text)
        items.append(label("streak", text, small, line_box(small, left, top, width), align="right"))
        flame_left = left - 3 - len(FLAME[0])
        items.append(Icon("streak icon", (flame_left, top, flame_left + len(FLAME[0]), top + len(FLAME)), FLAME))
    return items


def battery_text(battery: BatteryView, font: Font, width: int) -> str:
    """"Battery 82%", "Battery 82% charging", "82%, 5 sessions left" (or "100%, 12 left": what fits)."""
    if battery.percent is None:
        return "Battery: no reading"
    percent = f"{battery.percent:.0f}%"
    if battery.charging:
        return f"Battery {percent} charging"
    left = battery.sessions_left
    if left is None:
        return f"Battery {percent}"
    sessions = f"{left} session{'' if left == 1 else 's'}"
    candidates = (f"{percent}, {sessions} left", f"{percent}, {left} left")
    return next((text for text in candidates if font.width(text) <= width), candidates[-1])


def _history(view: IdleView) -> tuple:
    """The idle screen's history row: the streak beside a flame, this week's minutes at the right."""
    week = round(view.minutes_this_week) or (1 if view.minutes_this_week > 0 else 0)
    if view.streak_days > 0:
        days = f"{view.streak_days} day" + ("s" if view.streak_days > 1 else "")
        return ("history", days, f"{week} min/wk" if week else "", FLAME)
    return ("history", f"{week} min this week" if week else "Start a streak today")


def _routine_title(title: str, first_width: int, width: int) -> list[Item]:
    """One line in the largest face that fits, else two lines of the small font
    (the first beside the routine number, the second across the panel)."""
    font = largest_fitting(title, TITLE_SIZES, first_width)
    if font.width(title) <= first_width:
        return [label("routine title", title, font, line_box(font, 0, 0, first_width))]
    small = fonts.small()
    words = small.printable(title).split()
    split = 1
    while split < len(words) and small.width(" ".join(words[:split + 1])) <= first_width:
        split += 1
    return [label("routine title", " ".join(words[:split]), small, line_box(small, 0, 0, first_width),
                  shorten=True),
            label("routine title line 2", " ".join(words[split:]), small, line_box(small, 0, 10, width),
                  shorten=True)]


def _paused(view: PausedView, width: int, bottom: int) -> list[Item]:
    heading = fonts.sans(16)
    items: list[Item] = [
        label("heading", "Paused", heading, line_box(heading, 0, 0, 100)),
        PauseIcon("pause icon", (width - 10, 1, width, 13)),
        *_big_number("session remaining", timefmt.countdown(view.session_remaining), "to go", 19, width),
    ]
    room = rows_room(41, bottom)
    near_the_limit = view.pause_remaining <= PAUSE_WARNING_SECONDS
    if room >= 2 and not near_the_limit:
        rows = [("hint press", "press: resume"), ("hint hold", "hold: end")]
    else:  # one row says what the button does; the other, if there is one, when the pause ends
        rows = [("hints", "press:resume hold:end")]
        if near_the_limit and room >= 2:
            rows.insert(0, ("pause limit", f"Session ends in {timefmt.countdown(view.pause_remaining)}"))
    return items + text_rows(rows, width, bottom)


def _summary(view: SummaryView, width: int, bottom: int) -> list[Item]:
    heading = fonts.sans(16)
    zones = f"{view.zones_done} done, {view.zones_skipped} skipped" if view.zones_skipped \
        else f"{view.zones_done} {'zone' if view.zones_done == 1 else 'zones'} done"
    items: list[Item] = [
        label("outcome", "Well done" if view.completed else "Ended early", heading,
              line_box(heading, 0, 0, width)),
        *_big_number("time spent", timefmt.duration(view.active_seconds), "spent", 20, width, sizes=(24,)),
    ]
    rows = [("zones", zones)] + ([("streak", view.streak)] if view.streak else [])
    # Above the error bar the streak, the encouraging last line, stays; the zone count gives way.
    return items + text_rows(rows[max(0, len(rows) - rows_room(40, bottom)):], width, bottom)


def _sync(view: SyncView, width: int, bottom: int) -> list[Item]:
    heading = fonts.sans(16)
    if view.done and not view.total:
        return [label("heading", "Up to date", heading, line_box(heading, 0, 0, width)),
                *text_rows([("unplug", "safe to unplug")], width, bottom)]
    if view.done:
        title, hint = ("Exported", "safe to remove") if view.to_drive else ("Synced", "safe to unplug")
        return [label("heading", title, heading, line_box(heading, 0, 0, width)),
                *_big_number("count", str(view.total), "sessions", 19, width),
                *text_rows([("unplug", hint)], width, bottom)]
    done = view.sent / view.total if view.total else 1.0
    return [label("heading", "Syncing", heading, line_box(heading, 0, 0, width)),
            *_big_number("count", f"{view.sent}/{view.total}", "sessions", 19, width),
            ProgressBar("sync progress", (0, bottom - 4, width, bottom), done)]


def _question(view: QuestionView, width: int, bottom: int) -> list[Item]:
    """The change on as many lines as there are between the heading and what the button does;
    the last line that has room ends in ".." if the change is longer still."""
    small = fonts.small()
    left = timefmt.countdown(view.seconds_left)
    items: list[Item] = [label("question time left", left, small, line_box(small, width - small.width(left), 0, width)),
                         label("question heading", "From computer:", small,
                               line_box(small, 0, 0, width - small.width(left) - ROW_GAP))]
    hints = text_rows([("hint", "press: yes", "hold: no")], width, bottom)
    lines = wrapped(small.printable(view.prompt + "?"), small, width)
    room = max(0, (hints[0].area[1] - 2 - PROMPT_TOP - small.line_height) // SMALL_PITCH + 1)
    for index, line in enumerate(lines[:room]):
        rest = " ".join(lines[index:])
        box = line_box(small, 0, PROMPT_TOP + SMALL_PITCH * index, width)
        if index == room - 1 and len(lines) > room:
            items.append(Label(f"prompt line {index + 1}", shortened(rest, small, width), small, box, wanted=rest))
        else:
            items.append(Label(f"prompt line {index + 1}", line, small, box, wanted=line))
    return items + hints


def _power_off(view: PowerOffView, width: int, bottom: int) -> list[Item]:
    heading = fonts.sans(16)
    seconds = timefmt.whole_seconds_left(view.seconds_left)
    if not seconds:
        top = (bottom - heading.line_height) // 2
        return [label("powering off", "Powering off\u2026", heading, line_box(heading, 0, top, width),
                      align="center")]
    return [label("heading", "Power off in", heading, line_box(heading, 0, 0, width)),
            *_big_number("seconds left", str(seconds), "", 19, width),
            *text_rows([("hint", "release to cancel")], width, bottom)]


def _big_number(name: str, text: str, unit: str, top: int, width: int,
                sizes: Iterable[int] = COUNT_SIZES) -> list[Label]:
    """A number in the largest digits that fit beside its small `unit` (dropped if they cannot)."""
    small = fonts.small()
    room = width - small.width(unit) - ROW_GAP if unit else width
    candidates = [fonts.digits(size, ":/" if "/" in text else ":") for size in sizes]
    font = next((font for font in candidates if font.width(text) <= room), None)
    if font is None:  # no room for the unit: the number takes the whole row
        unit, room = "", width
        font = next((font for font in candidates if font.width(text) <= room), candidates[-1])
    items = [label(name, text, font, line_box(font, 0, top, room))]
    if unit:  # the unit's descenders end on the number's baseline
        unit_top = top + font.line_height - small.line_height
        items.append(label(f"{name} unit", unit, small, line_box(small, room + ROW_GAP, unit_top, width),
                           align="right"))
    return items


def text_rows(rows: list[tuple], width: int, bottom: int) -> list[Item]:
    """Small-font rows stacked up from `bottom`, the last row lowest. A row is
    (name, text[, right text[, icon]]): the right text keeps to the right edge, the icon
    stands before the text."""
    small = fonts.small()
    items: list[Item] = []
    for index, (name, text, *extra) in enumerate(reversed(rows)):
        right, icon = (extra + ["", None])[:2]
        top = bottom - small.line_height - SMALL_PITCH * index
        left, edge = 0, width
        if icon:
            items.append(Icon(f"{name} icon", (0, top, len(icon[0]), top + len(icon)), icon))
            left = len(icon[0]) + 3
        if right:
            edge = width - small.width(right) - ROW_GAP
            items.append(label(f"{name} right", right, small, line_box(small, edge + ROW_GAP, top, width),
                               align="right"))
        items.append(label(name, text, small, line_box(small, left, top, edge), shorten=True))
    return items


def rows_room(top: int, bottom: int) -> int:
    """How many small-font rows fit between `top` and `bottom`."""
    return max(0, (bottom - top - fonts.small().line_height) // SMALL_PITCH + 1)


def _safety(view: SafetyView, width: int, bottom: int) -> list[Item]:
    heading, small = fonts.sans(12), fonts.small()
    items: list[Item] = [label("heading", view.title, heading, line_box(heading, 0, 0, width))]
    text_top = heading.line_height + 2
    footer = ("hint", "press: next" if view.page < view.pages else "press: done", f"{view.page}/{view.pages}")
    footer_top = bottom - small.line_height
    room = max(0, (footer_top - text_top - small.line_height) // CUE_PITCH + 1)   # lines as close as a cue's
    lines = wrapped(small.printable(view.text), small, width)
    for index, line in enumerate(lines[:room]):
        last = index == room - 1 and len(lines) > room
        items.append(Label(f"text line {index + 1}", line, small,
                           line_box(small, 0, text_top + CUE_PITCH * index, width),
                           wanted=" ".join(lines[index:]) if last else line))
    return items + text_rows([footer], width, bottom)


def _rest(view: RestView, width: int, bottom: int) -> list[Item]:
    heading = fonts.sans(16)
    rows = [("until", f"until {view.until}"), ("hint press", "press: start anyway"), ("hint hold", "hold: keep resting")]
    return [label("heading", "Resting", heading, line_box(heading, 0, 0, width)),
            *text_rows(rows[-rows_room(heading.line_height + 3, bottom):], width, bottom)]


def _off(view: OffView, width: int, bottom: int) -> list[Item]:
    font = fonts.sans(24)
    top = (bottom - font.line_height) // 2
    return [label("off", "Off", font, line_box(font, 0, top, width), align="center")]


def _starting(view: StartingView, width: int, bottom: int) -> list[Item]:
    font = fonts.sans(16)
    top = (bottom - font.line_height) // 2
    return [label("starting", "facepace", font, line_box(font, 0, top, width), align="center")]


_LAYOUTS = {IdleView: _idle, ZoneView: _zone, PausedView: _paused, SummaryView: _summary,
            SyncView: _sync, QuestionView: _question, PowerOffView: _power_off, OffView: _off, SafetyView: _safety,
            RestView: _rest, StartingView: _starting}


def notice_pages(message: str, width: int = WIDTH) -> list[str]:
    """A notice as the bar shows it in turn: pages of up to NOTICE_LINES lines ("\\n" between),
    wrapped between words, so a long message is shown in full rather than cut short."""
    small = fonts.small()
    lines = wrapped(small.printable(message), small, width - 2)
    return ["\n".join(lines[start:start + NOTICE_LINES]) for start in range(0, len(lines), NOTICE_LINES)]


def layout(view: View, *, error: str | None = None, width: int = WIDTH, height: int = HEIGHT) -> list[Item]:
    """The items of a frame, the error bar's label last when there is an error. An error of two
    lines takes a bar of two lines where the screen keeps what matters above it, else one."""
    if error and "\n" in error:
        items = _with_error_bar(view, error.split("\n"), width, height)
        if not _problems(items, width, height):
            return items
        error = " ".join(error.split("\n"))
    return _with_error_bar(view, [error] if error else [], width, height)


def _with_error_bar(view: View, lines: list[str], width: int, height: int) -> list[Item]:
    bar_height = ERROR_BAR_HEIGHT + SMALL_PITCH * (len(lines) - 1) if lines else 0
    bottom = height - bar_height - 1 if lines else height  # one dark row above the bar
    items = _LAYOUTS[type(view)](view, width, bottom)
    if lines:
        small = fonts.small()
        top = height - bar_height
        for number, line in enumerate(lines):
            name = "error" if number == 0 else f"error line {number + 1}"
            line_top = top + 1 + SMALL_PITCH * number
            items.append(label(name, line, small, (1, line_top, width - 1, line_top + ERROR_BAR_HEIGHT - 1),
                               shorten=True))
        items.append(ErrorBar("error bar", (0, top, width, height)))
    return items


# --- drawing and checking -------------------------------------------------------------------

_ON_A_BAR = ("error", "caution")   # labels drawn dark on a lit bar


def render(view: View, *, error: str | None = None, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """The frame for `view`; an `error` shows as an inverted bar along the bottom."""
    image = Image.new("1", (width, height), 0)
    canvas = ImageDraw.Draw(image)
    items = layout(view, error=error, width=width, height=height)
    for item in items:
        if isinstance(item, ErrorBar):
            item.draw(canvas)
    for item in items:
        if isinstance(item, Label):
            item.draw(canvas, fill=0 if item.name.startswith(_ON_A_BAR) else LIT)
        elif not isinstance(item, ErrorBar):
            item.draw(canvas)
    return image


def fits(view: View, *, error: str | None = None, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    """What does not fit: text outside its box or shortened, boxes overlapping. Empty when all is well."""
    return _problems(layout(view, error=error, width=width, height=height), width, height)


def _problems(all_items: list[Item], width: int, height: int) -> list[str]:
    # The error and caution texts sit on their own bars by design.
    items = [item for item in all_items if not (isinstance(item, Label) and item.name.startswith(_ON_A_BAR))]
    problems = [f"{a.name} overlaps {b.name}" for a, b in combinations(items, 2)
                if _overlap(a.area, b.area)]
    for item in all_items:
        if not _inside(item.area, (0, 0, width, height)):
            problems.append(f"{item.name} lies off the {width}x{height} panel")
        if not isinstance(item, Label):
            continue
        if item.wanted is not None and item.text != item.wanted:
            problems.append(f"{item.name} {item.wanted!r} was shortened to {item.text!r}")
        elif not _inside(item.ink(), item.area):
            problems.append(f"{item.name} {item.text!r} needs {_size(item.ink())}, "
                            f"its box is {_size(item.area)}")
    return problems


def _inside(inner: Box, outer: Box) -> bool:
    return (inner[0] >= outer[0] and inner[1] >= outer[1]
            and inner[2] <= outer[2] and inner[3] <= outer[3])


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _size(box: Box) -> str:
    return f"{box[2] - box[0]}x{box[3] - box[1]} px at ({box[0]}, {box[1]})"
