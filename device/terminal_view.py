"""The OLED in a terminal: one character per pixel column, two pixel rows per character line."""

from __future__ import annotations

from PIL import Image

# (top pixel lit, bottom pixel lit) -> the half-block character that shows them
_BLOCKS = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584", (True, True): "\u2588"}


def to_blocks(image: Image.Image) -> str:
    """`image` (128x64 gives 128 columns x 32 lines) in half blocks, inside a thin frame."""
    width, height = image.size
    lit = [byte != 0 for byte in image.convert("1").convert("L").tobytes()]
    lines = ["\u250c" + "\u2500" * width + "\u2510"]
    for top in range(0, height, 2):
        upper = lit[top * width:(top + 1) * width]
        lower = lit[(top + 1) * width:(top + 2) * width] if top + 1 < height else [False] * width
        lines.append("\u2502" + "".join(_BLOCKS[pair] for pair in zip(upper, lower)) + "\u2502")
    lines.append("\u2514" + "\u2500" * width + "\u2518")
    return "\n".join(lines)
