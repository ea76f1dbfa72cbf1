"""Reading the simulator's terminal back into pixels, as a person reads it: each character's dots
or half blocks come from its Unicode name (unicodedata), never from the simulator's own tables."""

from __future__ import annotations

import unicodedata

from PIL import Image

LIT = 255
_BRAILLE_DOTS = {"1": (0, 0), "2": (0, 1), "3": (0, 2), "4": (1, 0), "5": (1, 1), "6": (1, 2),
                 "7": (0, 3), "8": (1, 3)}
_HALVES = {"SPACE": (), "UPPER HALF BLOCK": (0,), "LOWER HALF BLOCK": (1,), "FULL BLOCK": (0, 1)}


def braille_dots(char: str) -> set[tuple[int, int]]:
    """The (x, y) dots a character raises, from its name ("BRAILLE PATTERN DOTS-1378"): dots
    1-2-3 run down the left column, 4-5-6 down the right, 7 and 8 below them. A space has none."""
    name = unicodedata.name(char)
    if name == "SPACE":
        return set()
    if not name.startswith("BRAILLE PATTERN DOTS-"):
        raise ValueError(f"{char!r} ({name}) is not a braille cell")
    return {_BRAILLE_DOTS[digit] for digit in name.removeprefix("BRAILLE PATTERN DOTS-")}


def half_block_rows(char: str) -> tuple[int, ...]:
    """Which of a character's two pixel rows (0 top, 1 bottom) it fills."""
    name = unicodedata.name(char)
    if name not in _HALVES:
        raise ValueError(f"{char!r} ({name}) is not a half block")
    return _HALVES[name]


def unframe(lines: list[str]) -> list[str]:
    """What is inside a thin box-drawing frame; ValueError if the lines are not one."""
    if len(lines) < 2:
        raise ValueError("no frame")
    top, *inside, bottom = lines
    if not (top[:1] == "┌" and top[-1:] == "┐" and bottom[:1] == "└" and bottom[-1:] == "┘"
            and set(top[1:-1]) == set(bottom[1:-1]) == {"─"} and len(top) == len(bottom)
            and all(line[:1] == line[-1:] == "│" and len(line) == len(top) for line in inside)):
        raise ValueError("not a whole frame:\n" + "\n".join(lines))
    return [line[1:-1] for line in inside]


def pixels_from_braille(lines: list[str]) -> Image.Image:
    cells = unframe(lines)
    image = Image.new("1", (len(cells[0]) * 2, len(cells) * 4), 0)
    for row, line in enumerate(cells):
        for column, char in enumerate(line):
            for x, y in braille_dots(char):
                image.putpixel((column * 2 + x, row * 4 + y), LIT)
    return image


def pixels_from_blocks(lines: list[str]) -> Image.Image:
    cells = unframe(lines)
    image = Image.new("1", (len(cells[0]), len(cells) * 2), 0)
    for row, line in enumerate(cells):
        for column, char in enumerate(line):
            for half in half_block_rows(char):
                image.putpixel((column, row * 2 + half), LIT)
    return image


def find_panel(screen: list[str]) -> tuple[str, Image.Image] | None:
    """The panel framed at the top of a captured screen, as ("braille" or "blocks", its pixels),
    told apart by the frame's width (66 or 130 for the 128x64 panel); None while there is none."""
    ends = [number for number, line in enumerate(screen) if line.startswith("└")]
    if not screen or not screen[0].startswith("┌") or not ends:
        return None
    framed = screen[:ends[0] + 1]
    drawing, read = {66: ("braille", pixels_from_braille), 130: ("blocks", pixels_from_blocks)}.get(
        len(framed[0]), (None, None))
    try:
        return (drawing, read(framed)) if read else None
    except ValueError:   # a character of another drawing, or a frame drawn half-way
        return None
