"""The screens of the 128x64 one-bit OLED: a pure function from a view to a Pillow image.

`layout()` turns a view into items, each owning a box of the panel; `render()` draws them and
`fits()` measures them. Because the check measures exactly what is drawn, a test can prove
that every zone of every routine fits before anyone holds the device.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from PIL import Image, ImageDraw

from device import fonts
from device.fonts import Box, Font
from device.views import IdleView, OffView, PausedView, SummaryView, View, ZoneView

WIDTH, HEIGHT = 128, 64
LIT = 255  # mode "1" stores lit pixels as 255; drawing with 1 would store a stray 1
ERROR_BAR_HEIGHT = 11

# Largest first: a title takes the biggest face it fits in.
TITLE_SIZES = (16, 14, 12, 11)
ELLIPSIS = ".."


@dataclass(frozen=True)
class Label:
    """One line of text kept inside `area`; `wanted` is the text before it was shortened."""

    name: str
    text: str
    font: Font
    area: Box
    align: str = "left"  # "left", "right" or "center"
    wanted: str | None = None

    def origin(self) -> tuple[int, int]:
        """Pen position: x from the alignment, y so the capitals start at the area's top."""
        left, top, right, _ = self.area
        width = self.font.width(self.text)
        x = {"left": left, "right": right - width, "center": (left + right - width) // 2}[self.align]
        return x, top - self.font.cap_top

    def ink(self) -> Box:
        x, y = self.origin()
        left, top, right, bottom = self.font.ink(self.text)
        return (x + left, y + top, x + right, y + bottom)

    def draw(self, canvas: ImageDraw.ImageDraw, fill: int = LIT) -> None:
        canvas.text(self.origin(), self.text, font=self.font.face, fill=fill)


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
class PauseIcon:
    name: str
    area: Box

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        left, top, right, bottom = self.area
        bar = (right - left) * 2 // 5
        canvas.rectangle((left, top, left + bar - 1, bottom - 1), fill=LIT)
        canvas.rectangle((right - bar, top, right - 1, bottom - 1), fill=LIT)


@dataclass(frozen=True)
class ErrorBar:
    name: str
    area: Box

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        left, top, right, bottom = self.area
        canvas.rectangle((left, top, right - 1, bottom - 1), fill=LIT)


Item = Label | ProgressBar | LevelBars | PauseIcon | ErrorBar


# --- text helpers ---------------------------------------------------------------------------

def clock(seconds: float) -> str:
    """m:ss, rounded up, so a countdown shows 0:00 only once its time is over."""
    whole = max(0, math.ceil(seconds - 1e-6))
    return f"{whole // 60}:{whole % 60:02d}"


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
          shorten: bool = False) -> Label:
    """A label; with `shorten`, text too wide for its area ends in an ellipsis (fits() reports it)."""
    text = font.printable(text)
    shown = shortened(text, font, area[2] - area[0]) if shorten else text
    return Label(name, shown, font, area, align, wanted=text)


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
    items.append(label("countdown", clock(view.zone_remaining), big, line_box(big, 0, count_top, 78)))
    items.append(label("zone number", f"{view.zone_number}/{view.zone_count}", small,
                       line_box(small, 80, count_top + 1, width), align="right"))
    if view.side:
        items.append(label("side", view.side.upper(), small,
                           line_box(small, 80, count_top + 11, width), align="right"))
    done = 1 - view.zone_remaining / view.zone_seconds if view.zone_seconds > 0 else 1.0
    items.append(ProgressBar("zone progress", (0, bar_top, width, bottom), done))
    cue_lines = wrapped(small.printable(view.cue), small, width)
    cue_top = 17  # one row below the largest title's descenders
    room = (count_top - cue_top) // 10
    for index, line in enumerate(cue_lines[:room]):
        last = index == room - 1 and len(cue_lines) > room
        wanted = " / ".join(cue_lines[index:]) if last else line
        box = line_box(small, 0, cue_top + 10 * index, width)
        items.append(Label(f"cue line {index + 1}", line, small, box, wanted=wanted))
    return items


def _idle(view: IdleView, width: int, bottom: int) -> list[Item]:
    small, length_font = fonts.small(), fonts.sans(16)
    number = f"{view.routine_number}/{view.routine_count}"
    number_left = width - small.width(number)
    items: list[Item] = [label("routine number", number, small, line_box(small, number_left, 0, width))]
    items.extend(_routine_title(view.routine_title, number_left - 4, width))
    items.append(label("routine length", minutes(view.routine_seconds), length_font,
                       line_box(length_font, 0, 23, 80)))
    items.append(LevelBars("intensity", (width - 33, 22, width, 35), view.intensity))
    last = "No sessions yet"
    if view.last_session:
        last = f"Last: {view.last_session}"
        if small.width(last) > width:
            last = view.last_session
    items.append(label("last session", last, small, line_box(small, 0, 41, width), shorten=True))
    hint_top = bottom - small.line_height
    if hint_top >= 52:  # the error bar, when shown, takes the hint's row
        items.append(label("hint", "press: start", small, line_box(small, 0, hint_top, 76)))
        if view.routine_count > 1:
            items.append(label("hint next", "2x: next", small, line_box(small, 80, hint_top, width),
                               align="right"))
    return items


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
    small, heading, big = fonts.small(), fonts.sans(16), fonts.digits(28)
    items: list[Item] = [
        label("heading", "Paused", heading, line_box(heading, 0, 0, 100)),
        PauseIcon("pause icon", (width - 10, 1, width, 13)),
        label("session remaining", clock(view.session_remaining), big, line_box(big, 0, 19, 80)),
        label("remaining label", "left", small, line_box(small, 84, 29, width), align="right"),
    ]
    if bottom - 2 * 10 >= 42:
        items.append(label("hint press", "press: resume", small, line_box(small, 0, bottom - 19, width)))
        items.append(label("hint hold", "hold: end", small, line_box(small, 0, bottom - 9, width)))
    else:  # above the error bar there is room for one line only
        items.append(label("hints", "press:resume hold:end", small, line_box(small, 0, bottom - 10, width)))
    return items


def _summary(view: SummaryView, width: int, bottom: int) -> list[Item]:
    small, heading, big = fonts.small(), fonts.sans(16), fonts.digits(24)
    zones = f"{view.zones_done} done, {view.zones_skipped} skipped" if view.zones_skipped \
        else f"{view.zones_done} zones done"
    items: list[Item] = [
        label("outcome", "Well done" if view.completed else "Ended early", heading,
              line_box(heading, 0, 0, width)),
        label("time spent", clock(view.active_seconds), big, line_box(big, 0, 20, 80)),
        label("time label", "spent", small, line_box(small, 84, 27, width), align="right"),
        label("zones", zones, small, line_box(small, 0, 41, width), shorten=True),
    ]
    if view.streak and bottom >= 52 + small.line_height:
        items.append(label("streak", view.streak, small, line_box(small, 0, 52, width), shorten=True))
    return items


def _off(view: OffView, width: int, bottom: int) -> list[Item]:
    font = fonts.sans(24)
    top = (bottom - font.line_height) // 2
    return [label("off", "Off", font, line_box(font, 0, top, width), align="center")]


_LAYOUTS = {IdleView: _idle, ZoneView: _zone, PausedView: _paused, SummaryView: _summary, OffView: _off}


def layout(view: View, *, error: str | None = None, width: int = WIDTH, height: int = HEIGHT) -> list[Item]:
    """The items of a frame, the error bar's label last when there is an error."""
    bottom = height - ERROR_BAR_HEIGHT - 1 if error else height  # one dark row above the bar
    items = _LAYOUTS[type(view)](view, width, bottom)
    if error:
        small = fonts.small()
        top = height - ERROR_BAR_HEIGHT
        bar = (0, top, width, height)
        items.append(label("error", error, small, (1, top + 1, width - 1, height), shorten=True))
        items.append(ErrorBar("error bar", bar))
    return items


# --- drawing and checking -------------------------------------------------------------------

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
            item.draw(canvas, fill=0 if item.name == "error" else LIT)
        elif not isinstance(item, ErrorBar):
            item.draw(canvas)
    return image


def fits(view: View, *, error: str | None = None, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    """What does not fit: text outside its box or shortened, boxes overlapping. Empty when all is well."""
    items = [item for item in layout(view, error=error, width=width, height=height)
             if item.name != "error"]  # the error text sits on its own bar by design
    problems = [f"{a.name} overlaps {b.name}" for a, b in combinations(items, 2)
                if _overlap(a.area, b.area)]
    for item in layout(view, error=error, width=width, height=height):
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
