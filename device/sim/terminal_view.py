"""The OLED in a terminal, in Unicode block characters inside a thin frame.

Two drawings: `to_blocks` keeps every pixel (one character per pixel column, two pixel rows per
line: 130x34 characters for the panel), and `to_quadrants` puts 2x2 pixels in each character.
The simulator draws `to_quadrants(half_height(frame))` (66x18 characters) when the terminal is too
small for the full drawing, as a default 80x24 terminal is.
"""

from __future__ import annotations

from PIL import Image

# (top pixel lit, bottom pixel lit) -> the half-block character that shows them
_BLOCKS = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584", (True, True): "\u2588"}

# (upper left, upper right, lower left, lower right lit) -> the character that shows them
_QUADRANTS = {
    (False, False, False, False): " ",
    (True, False, False, False): "\u2598",   # ▘
    (False, True, False, False): "\u259d",   # ▝
    (False, False, True, False): "\u2596",   # ▖
    (False, False, False, True): "\u2597",   # ▗
    (True, True, False, False): "\u2580",    # ▀
    (False, False, True, True): "\u2584",    # ▄
    (True, False, True, False): "\u258c",    # ▌
    (False, True, False, True): "\u2590",    # ▐
    (True, False, False, True): "\u259a",    # ▚
    (False, True, True, False): "\u259e",    # ▞
    (True, True, True, False): "\u259b",     # ▛
    (True, True, False, True): "\u259c",     # ▜
    (True, False, True, True): "\u2599",     # ▙
    (False, True, True, True): "\u259f",     # ▟
    (True, True, True, True): "\u2588",      # █
}


def to_blocks(image: Image.Image) -> str:
    """`image` (128x64 gives 128 columns x 32 lines) in half blocks, inside a thin frame."""
    width, height = image.size
    lit = _lit_rows(image, width, height + height % 2)
    return _framed(["".join(_BLOCKS[pair] for pair in zip(upper, lower))
                    for upper, lower in zip(lit[0::2], lit[1::2])], width)


def to_quadrants(image: Image.Image) -> str:
    """`image` (64x32 gives 32 columns x 16 lines) in quadrant blocks, inside a thin frame."""
    width, height = image.size
    columns = (width + 1) // 2
    lit = _lit_rows(image, columns * 2, height + height % 2)
    return _framed(["".join(_QUADRANTS[upper[x], upper[x + 1], lower[x], lower[x + 1]]
                            for x in range(0, columns * 2, 2))
                    for upper, lower in zip(lit[0::2], lit[1::2])], columns)


def half_height(image: Image.Image) -> Image.Image:
    """Every two pixel rows merged into one, lit where either is: 128x64 gives 128x32, which
    quadrants draw in 64x16 characters with the panel's proportions (a terminal character is
    about twice as tall as wide). Merging by "either" keeps one-pixel lines, such as the
    progress bar's outline, from vanishing."""
    return image.convert("L").reduce((1, 2)).point(lambda mean: 255 if mean else 0).convert("1")


def _lit_rows(image: Image.Image, width: int, height: int) -> list[list[bool]]:
    """Rows of lit flags, padded with dark pixels to `width` x `height`."""
    padded = Image.new("L", (width, height), 0)
    padded.paste(image.convert("1").convert("L"), (0, 0))
    flags = [value != 0 for value in padded.tobytes()]
    return [flags[row * width:(row + 1) * width] for row in range(height)]


def _framed(lines: list[str], width: int) -> str:
    return "\n".join(["\u250c" + "\u2500" * width + "\u2510",
                      *("\u2502" + line + "\u2502" for line in lines),
                      "\u2514" + "\u2500" * width + "\u2518"])
