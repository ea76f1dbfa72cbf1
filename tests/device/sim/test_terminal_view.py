"""The panel in a terminal: block drawings, and which one the simulator picks for the terminal's size."""

from __future__ import annotations

import io
import re
import unicodedata
from itertools import product
from os import terminal_size
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw

from device.screen.screens import render
from device.sim.terminal import TerminalScreen, choose_drawing, needed_size
from device.sim.terminal_view import half_height, to_blocks, to_quadrants
from device.screen.views import ZoneView

ZONE = ZoneView("Jawline", "Knuckles chin to ear,\nfirm pressure", zone_remaining=27.3,
                zone_seconds=45, zone_number=3, zone_count=8, side="left")
CORNERS = ("UPPER LEFT", "UPPER RIGHT", "LOWER LEFT", "LOWER RIGHT")
# The block characters that are not named "QUADRANT ...", by the quadrants they fill.
HALVES = {"SPACE": set(), "UPPER HALF BLOCK": {"UPPER LEFT", "UPPER RIGHT"},
          "LOWER HALF BLOCK": {"LOWER LEFT", "LOWER RIGHT"},
          "LEFT HALF BLOCK": {"UPPER LEFT", "LOWER LEFT"},
          "RIGHT HALF BLOCK": {"UPPER RIGHT", "LOWER RIGHT"}, "FULL BLOCK": set(CORNERS)}


def quadrants_filled(char: str) -> set[str]:
    """Which quadrants a character fills, read from its Unicode name (not from our table)."""
    name = unicodedata.name(char)
    if name.startswith("QUADRANT "):
        return set(name.removeprefix("QUADRANT ").split(" AND "))
    return HALVES[name]


def test_full_drawing_has_two_pixel_rows_per_character():
    image = Image.new("1", (4, 4), 0)
    ImageDraw.Draw(image).point([(0, 0), (1, 1), (2, 0), (2, 1), (3, 3)], fill=1)
    assert to_blocks(image) == "\n".join([
        "┌────┐",
        "│▀▄█ │",
        "│   ▄│",
        "└────┘",
    ])


def test_full_drawing_of_a_frame_is_128_columns_by_32_lines():
    lines = to_blocks(render(ZONE)).split("\n")
    assert len(lines) == 32 + 2
    assert {len(line) for line in lines} == {128 + 2}
    assert "█" in "".join(lines)


@pytest.mark.parametrize("pattern", list(product((False, True), repeat=4)),
                         ids=lambda pattern: "".join("#" if lit else "." for lit in pattern))
def test_every_2x2_pattern_becomes_the_quadrant_character_that_shows_it(pattern):
    image = Image.new("1", (2, 2), 0)
    for (x, y), lit in zip([(0, 0), (1, 0), (0, 1), (1, 1)], pattern):
        image.putpixel((x, y), 255 if lit else 0)
    top, middle, bottom = to_quadrants(image).split("\n")
    assert (top, bottom) == ("┌─┐", "└─┘") and middle[0] == middle[2] == "│"
    assert quadrants_filled(middle[1]) == {corner for corner, lit in zip(CORNERS, pattern) if lit}


def test_the_16_patterns_use_16_different_characters():
    shown = set()
    for pattern in product((0, 255), repeat=4):
        image = Image.new("L", (2, 2))
        image.putdata(pattern)
        shown.add(to_quadrants(image.convert("1")).split("\n")[1][1])
    assert len(shown) == 16


def test_quadrants_pad_odd_sizes_with_dark_pixels():
    image = Image.new("1", (3, 3), 0)
    image.putpixel((2, 2), 255)
    assert to_quadrants(image) == "\n".join(["┌──┐", "│  │", "│ ▘│", "└──┘"])


@pytest.mark.parametrize(("upper", "lower"), list(product((False, True), repeat=2)))
def test_half_height_lights_a_pixel_when_either_of_its_two_rows_is_lit(upper, lower):
    image = Image.new("1", (1, 2), 0)
    image.putpixel((0, 0), 255 if upper else 0)
    image.putpixel((0, 1), 255 if lower else 0)
    merged = half_height(image)
    assert merged.size == (1, 1)
    assert bool(merged.getpixel((0, 0))) == (upper or lower)


def test_half_height_drawing_of_a_frame_is_64_columns_by_16_lines_and_keeps_the_bar():
    empty_bar = ZoneView("Neck", "Stroke down", zone_remaining=30, zone_seconds=30, zone_number=1,
                         zone_count=6)
    lines = to_quadrants(half_height(render(empty_bar))).split("\n")
    assert len(lines) == 16 + 2
    assert {len(line) for line in lines} == {64 + 2}
    # The empty bar is an outline: one-pixel lines on rows 60 and 63, dark between them.
    assert lines[-2] == "│" + "█" * 64 + "│", "the progress bar's outline must survive"


# --- which drawing the simulator picks ---------------------------------------------------------

def test_needed_sizes_include_the_frame_and_the_two_status_lines():
    assert needed_size("full") == (130, 36)
    assert needed_size("quadrants") == (66, 20)


@pytest.mark.parametrize(("columns", "lines", "drawing"), [
    (250, 80, "full"), (140, 45, "full"), (130, 36, "full"),
    (129, 36, "quadrants"), (130, 35, "quadrants"), (80, 24, "quadrants"), (66, 20, "quadrants"),
    (65, 20, None), (66, 19, None), (40, 10, None),
])
def test_choose_drawing_takes_the_largest_that_fits(columns, lines, drawing):
    assert choose_drawing(columns, lines) == drawing


class FakeTerminal:
    """What the screen wrote, and a size the test can change."""

    def __init__(self, columns: int, lines: int) -> None:
        self.out = io.StringIO()
        self.size = terminal_size((columns, lines))

    def writes(self) -> str:
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text


def visible_lines(written: str) -> list[str]:
    """The lines a terminal shows after cursor-home: escape sequences removed."""
    home = written.rindex("\x1b[H")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", written[home:]).split("\n")


def screen_at(columns: int, lines: int) -> tuple[TerminalScreen, FakeTerminal]:
    terminal = FakeTerminal(columns, lines)
    screen = TerminalScreen(terminal.out, terminal_size=lambda: terminal.size)
    return screen, terminal


POWERED = SimpleNamespace(powered=True)


@pytest.mark.parametrize(("columns", "lines", "panel_width"), [
    (80, 24, 66), (66, 20, 66), (140, 45, 130), (130, 36, 130),
])
def test_the_drawing_fits_the_terminal_without_wrapping_or_scrolling(columns, lines, panel_width):
    screen, terminal = screen_at(columns, lines)
    screen.frame(render(ZONE), POWERED)
    shown = visible_lines(terminal.writes())
    assert len(shown) <= lines, "a newline on the last line would scroll the panel up"
    assert max(len(line) for line in shown) <= columns
    assert len(shown[0]) == panel_width and shown[-1].startswith(" keys:")


def test_a_terminal_too_small_gets_one_line_saying_how_large_to_make_it():
    screen, terminal = screen_at(60, 15)
    screen.frame(render(ZONE), POWERED)
    shown = visible_lines(terminal.writes())
    assert shown == ["make the terminal at least 66x20 (it is 60x15); q quits"]


@pytest.mark.parametrize("columns", [1, 10, 20, 30, 50])
def test_the_too_small_message_never_wraps_and_keeps_the_size(columns):
    screen, terminal = screen_at(columns, 5)
    screen.frame(render(ZONE), POWERED)
    (shown,) = visible_lines(terminal.writes())
    assert len(shown) < columns
    assert "66x20" in shown or columns <= len("66x20")


def test_a_size_change_clears_once_and_picks_the_drawing_again():
    screen, terminal = screen_at(140, 45)
    screen.frame(render(ZONE), POWERED)
    assert "\x1b[2J" in terminal.writes(), "the first drawing starts from a clear screen"
    screen.motor(0.5)
    assert "\x1b[2J" not in terminal.writes(), "same size: drawn over in place, no flicker"
    terminal.size = terminal_size((80, 24))
    screen.motor(0.5)
    written = terminal.writes()
    assert "\x1b[2J" in written and len(visible_lines(written)[0]) == 66


def test_follow_resize_redraws_only_when_the_size_changed():
    screen, terminal = screen_at(80, 24)
    screen.frame(render(ZONE), POWERED)
    terminal.writes()
    screen.follow_resize()
    assert terminal.writes() == ""
    terminal.size = terminal_size((140, 45))
    screen.follow_resize()
    written = terminal.writes()
    assert "\x1b[2J" in written and len(visible_lines(written)[0]) == 130


def test_panel_off_shows_on_the_motor_line_not_beside_the_frame():
    screen, terminal = screen_at(130, 36)
    screen.frame(Image.new("1", (128, 64), 0), SimpleNamespace(powered=False))
    shown = visible_lines(terminal.writes())
    assert "(panel off)" in shown[-2] and max(len(line) for line in shown) <= 130
