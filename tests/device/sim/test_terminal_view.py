"""The panel in a terminal as text: the two drawings (half blocks, braille), which one a terminal
of a given size gets, and what it shows when it is too small for both.

The characters are read back against their Unicode names (tests/support/terminal_text.py), not
against our tables."""

from __future__ import annotations

import unicodedata
from itertools import product

import pytest
from PIL import Image, ImageDraw

from device.screen.screens import render
from device.screen.views import ZoneView
from device.sim.terminal_view import choose_drawing, needed_size, screen_lines, to_blocks, to_braille
from tests.conftest import same_pixels
from tests.support.terminal_text import braille_dots, pixels_from_blocks, pixels_from_braille, unframe

ZONE = ZoneView("Jawline", "Knuckles chin to ear,\nfirm pressure", zone_remaining=27.3,
                zone_seconds=45, zone_number=3, zone_count=8, side="left")
EMPTY_BAR = ZoneView("Neck", "Stroke down", zone_remaining=30, zone_seconds=30, zone_number=1,
                     zone_count=6)


# --- the half-block drawing ----------------------------------------------------------------------

def test_blocks_have_two_pixel_rows_per_character():
    image = Image.new("1", (4, 4), 0)
    ImageDraw.Draw(image).point([(0, 0), (1, 1), (2, 0), (2, 1), (3, 3)], fill=1)
    assert to_blocks(image) == [
        "┌────┐",
        "│▀▄█ │",
        "│   ▄│",
        "└────┘",
    ]


def test_blocks_of_a_frame_are_128_columns_by_32_lines_and_keep_every_pixel():
    frame = render(ZONE)
    lines = to_blocks(frame)
    assert len(unframe(lines)) == 32 and len(lines[0]) == 128 + 2
    assert same_pixels(pixels_from_blocks(lines), frame)


# --- the braille drawing -------------------------------------------------------------------------

def test_every_2x4_pattern_becomes_the_braille_cell_that_raises_those_dots():
    shown = set()
    cell = [(x, y) for y in range(4) for x in range(2)]
    for pattern in product((False, True), repeat=8):
        lit = {dot for dot, on in zip(cell, pattern) if on}
        image = Image.new("1", (2, 4), 0)
        for dot in lit:
            image.putpixel(dot, 255)
        (char,) = unframe(to_braille(image))[0]
        assert braille_dots(char) == lit, f"{sorted(lit)} drawn as {unicodedata.name(char)}"
        shown.add(char)
    assert len(shown) == 256


def test_braille_pads_odd_sizes_with_dark_dots():
    image = Image.new("1", (3, 5), 0)
    image.putpixel((2, 4), 255)
    cells = unframe(to_braille(image))
    assert [len(line) for line in cells] == [2, 2]
    assert braille_dots(cells[1][1]) == {(0, 0)} and cells[0] == " " * 2 and cells[1][0] == " "


@pytest.mark.parametrize("view", [ZONE, EMPTY_BAR], ids=["zone", "empty-bar"])
def test_braille_of_a_frame_is_64x16_characters_and_keeps_every_pixel(view):
    frame = render(view)
    lines = to_braille(frame)
    assert len(lines) == 16 + 2 and {len(line) for line in lines} == {64 + 2}
    assert same_pixels(pixels_from_braille(lines), frame), "a pixel was lost or added"


def test_braille_keeps_the_one_pixel_lines_of_the_empty_bar():
    # The bar is an outline, lit on its top and bottom rows and dark between: the half-height
    # drawing this replaced merged it into one solid line.
    frame = render(EMPTY_BAR)
    shown = pixels_from_braille(to_braille(frame))
    middle = [shown.getpixel((x, 61)) for x in range(8, 120)]
    assert not any(middle) and all(shown.getpixel((x, 60)) for x in range(8, 120))


# --- which drawing a terminal gets ---------------------------------------------------------------

def test_needed_sizes_include_the_frame_and_the_two_status_lines():
    assert needed_size("blocks") == (130, 36)
    assert needed_size("braille") == (66, 20)


@pytest.mark.parametrize(("columns", "lines", "drawing"), [
    (250, 80, "blocks"), (140, 45, "blocks"), (130, 40, "blocks"), (130, 36, "blocks"),
    (129, 36, "braille"), (130, 35, "braille"), (80, 24, "braille"), (66, 20, "braille"),
    (65, 20, None), (66, 19, None), (40, 10, None),
])
def test_choose_drawing_takes_the_largest_that_fits(columns, lines, drawing):
    assert choose_drawing(columns, lines) == drawing


@pytest.mark.parametrize(("columns", "lines", "panel_width"), [
    (80, 24, 66), (66, 20, 66), (129, 50, 66), (140, 45, 130), (130, 36, 130),
])
def test_the_screen_fits_the_terminal_and_leaves_its_last_cell_free(columns, lines, panel_width):
    shown = screen_lines(render(ZONE), columns=columns, lines=lines, duty=1.0)
    assert len(shown) <= lines and max(len(line) for line in shown) <= columns
    if len(shown) == lines:
        assert len(shown[-1]) < columns, "a character in the last cell scrolls the terminal"
    assert len(shown[0]) == panel_width and shown[-1].startswith(" keys:")


def test_the_motor_line_shows_the_duty_as_a_bar_and_a_number():
    assert screen_lines(render(ZONE), columns=80, lines=24, duty=0.5)[-2] == \
        " motor " + "█" * 10 + " " * 10 + " 0.50"
    assert screen_lines(render(ZONE), columns=80, lines=24)[-2] == " motor " + " " * 20 + " 0.00"


def test_panel_off_shows_on_the_motor_line_not_beside_the_frame():
    shown = screen_lines(Image.new("1", (128, 64), 0), columns=130, lines=36, powered=False)
    assert "(panel off)" in shown[-2] and max(len(line) for line in shown) <= 130


# --- too small for either ------------------------------------------------------------------------

def test_a_terminal_too_small_is_told_plainly_what_size_is_needed():
    shown = screen_lines(render(ZONE), columns=60, lines=15)
    assert " ".join(shown) == ("facepace sim needs a terminal of at least 66x20 characters; this one "
                               "is 60x15. Make it larger, or press q to quit.")


@pytest.mark.parametrize(("columns", "lines"), [
    (columns, lines) for columns in (1, 5, 6, 10, 20, 30, 50, 65, 120) for lines in (1, 2, 3, 5, 19)])
def test_the_too_small_message_never_wraps_and_names_the_size_when_it_can(columns, lines):
    shown = screen_lines(render(ZONE), columns=columns, lines=lines)
    assert len(shown) <= lines and all(len(line) < columns for line in shown)
    assert "66x20" in " ".join(shown) or columns <= len("66x20")
