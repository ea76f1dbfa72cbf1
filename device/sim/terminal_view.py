"""The OLED in a terminal, as text: pure functions from pixels (and the motor) to lines.

Two drawings, both of every pixel, inside a thin frame:
- "blocks": half blocks, a character per pixel column and two pixel rows per line
  (the 128x64 panel takes 130x34 characters with its frame), solid like the panel;
- "braille": Unicode braille cells, 2x4 dots per character (66x18 with the frame), which a
  default 80x24 terminal holds. A terminal character is about twice as tall as wide, so the dots
  keep the panel's proportions.
`screen_lines` picks the larger one the terminal has room for, or says what size is needed.
"""

from __future__ import annotations

import textwrap

from PIL import Image

PANEL = (128, 64)
STATUS_LINES = 2   # the motor line and the keys line under the panel
KEYS_HELP = "keys: [space] press  [d] double press  [h] hold  [q] quit"
DRAWINGS = ("blocks", "braille")   # largest first

# (top pixel lit, bottom pixel lit) -> the half-block character that shows them
_BLOCKS = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584", (True, True): "\u2588"}

# The bit of each dot in a braille cell, by (x, y) in the cell: dots 1-2-3 go down the left
# column, 4-5-6 down the right, and 7, 8 were added below them later (U+2800 + the bits).
_BRAILLE_BITS = {(0, 0): 0x01, (0, 1): 0x02, (0, 2): 0x04, (1, 0): 0x08,
                 (1, 1): 0x10, (1, 2): 0x20, (0, 3): 0x40, (1, 3): 0x80}


def to_blocks(image: Image.Image) -> list[str]:
    """`image` (128x64 gives 128 columns x 32 lines) in half blocks, inside a thin frame."""
    width, height = image.size
    lit = _lit_rows(image, width, height + height % 2)
    return _framed(["".join(_BLOCKS[pair] for pair in zip(upper, lower))
                    for upper, lower in zip(lit[0::2], lit[1::2])], width)


def to_braille(image: Image.Image) -> list[str]:
    """`image` (128x64 gives 64 columns x 16 lines) in braille cells, inside a thin frame;
    an empty cell is a space."""
    width, height = image.size
    columns, rows = -(-width // 2), -(-height // 4)
    lit = _lit_rows(image, columns * 2, rows * 4)
    lines = []
    for top in range(0, rows * 4, 4):
        cells = []
        for left in range(0, columns * 2, 2):
            bits = sum(bit for (x, y), bit in _BRAILLE_BITS.items() if lit[top + y][left + x])
            cells.append(chr(0x2800 + bits) if bits else " ")
        lines.append("".join(cells))
    return _framed(lines, columns)


def needed_size(drawing: str, panel: tuple[int, int] = PANEL) -> tuple[int, int]:
    """Columns and lines a drawing takes with its frame and the status lines."""
    width, height = panel
    if drawing == "blocks":
        return width + 2, -(-height // 2) + 2 + STATUS_LINES
    if drawing == "braille":
        return -(-width // 2) + 2, -(-height // 4) + 2 + STATUS_LINES
    raise ValueError(f"no drawing called {drawing!r}; there are {', '.join(DRAWINGS)}")


def choose_drawing(columns: int, lines: int, panel: tuple[int, int] = PANEL) -> str | None:
    """The largest drawing the terminal holds, or None when it is too small for any."""
    for drawing in DRAWINGS:
        needed_columns, needed_lines = needed_size(drawing, panel)
        if columns >= needed_columns and lines >= needed_lines:
            return drawing
    return None


def screen_lines(image: Image.Image, *, columns: int, lines: int, duty: float = 0.0,
                 powered: bool = True) -> list[str]:
    """What the terminal shows, line by line from the top: the panel, the motor, the keys.

    Nothing is written in the last column of the last line (a terminal scrolls, and curses
    fails, when a character lands there), so every line fits as it is."""
    drawing = choose_drawing(columns, lines, image.size)
    if drawing is None:
        return too_small(columns, lines, needed_size(DRAWINGS[-1], image.size))
    panel = to_blocks(image) if drawing == "blocks" else to_braille(image)
    bar = "\u2588" * round(duty * 20)
    off = "" if powered else "  (panel off)"
    return [*panel, f" motor {bar:<20} {duty:4.2f}{off}", f" {KEYS_HELP}"]


def too_small(columns: int, lines: int, needed: tuple[int, int]) -> list[str]:
    """The plainest message that fits, wrapped inside the terminal (the last column left free)."""
    least = "x".join(map(str, needed))
    messages = (f"facepace sim needs a terminal of at least {least} characters; this one is "
                f"{columns}x{lines}. Make it larger, or press q to quit.",
                f"make the terminal at least {least} (it is {columns}x{lines}); q quits",
                f"at least {least}", least)
    for message in messages:
        wrapped = textwrap.wrap(message, max(columns - 1, 1), break_long_words=False,
                                break_on_hyphens=False)
        if len(wrapped) <= lines and all(len(line) < columns for line in wrapped):
            return wrapped
    return []


def _lit_rows(image: Image.Image, width: int, height: int) -> list[list[bool]]:
    """Rows of lit flags, padded with dark pixels to `width` x `height`."""
    padded = Image.new("L", (width, height), 0)
    padded.paste(image.convert("1").convert("L"), (0, 0))
    flags = [value != 0 for value in padded.tobytes()]
    return [flags[row * width:(row + 1) * width] for row in range(height)]


def _framed(lines: list[str], width: int) -> list[str]:
    return ["\u250c" + "\u2500" * width + "\u2510",
            *("\u2502" + line + "\u2502" for line in lines),
            "\u2514" + "\u2500" * width + "\u2518"]
