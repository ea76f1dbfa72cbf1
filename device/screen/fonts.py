"""Fonts for the 128x64 one-bit panel, loaded once and shared.

Both faces ship inside Pillow, so a plain `pip install` is enough on any machine:
- `small()`: Pillow's built-in bitmap font, 6 px per character (21 fit across the panel),
  bold and pixel-exact, for cues and labels;
- `sans(size)`: Pillow's embedded Aileron outline font, for large titles and the countdown.
Pillow draws text on mode "1" images without anti-aliasing, so every pixel is on or off.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from PIL import ImageFont

Box = tuple[int, int, int, int]
"""left, top, right, bottom in pixels; right and bottom are exclusive, as in Pillow."""

# The bitmap font only has Latin-1 glyphs (and raises on anything else), so common
# typographic characters are spelled the plain way.
_PLAIN = str.maketrans({"\u2026": "...", "\u2013": "-", "\u2014": "-", "\u2018": "'",
                        "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


@dataclass(frozen=True)
class Font:
    """A face plus where its ink sits, so lines line up by their capitals, not by their glyphs."""

    face: ImageFont.ImageFont | ImageFont.FreeTypeFont
    cap_top: int       # blank rows above the tallest plain glyph when drawn at y = 0
    line_height: int   # rows from that top to the bottom of the descenders
    bitmap: bool = False

    def printable(self, text: str) -> str:
        if not self.bitmap:
            return text
        return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")

    def ink(self, text: str) -> Box:
        """Where `text` puts ink when drawn with its pen at (0, 0)."""
        if not text:
            return (0, self.cap_top, 0, self.cap_top)
        left, top, right, bottom = self.face.getbbox(text)
        if self.bitmap:  # getbbox reports the whole cell; use the measured rows instead
            top, bottom = self.cap_top, self.cap_top + self.line_height
        return (left, top, right, bottom)

    def width(self, text: str) -> int:
        """Pixels from the pen to the right edge of the last glyph."""
        return self.ink(text)[2]


@cache
def small() -> Font:
    # Measured by drawing: digits and ascenders start on row 2 of the 11-row cell,
    # descenders end on row 10.
    return Font(ImageFont.load_default_imagefont(), cap_top=2, line_height=9, bitmap=True)


@cache
def sans(size: int) -> Font:
    face = ImageFont.load_default(size=size)
    top = face.getbbox("Hbdfhkl0")[1]
    return Font(face, cap_top=top, line_height=face.getbbox("gjpqy")[3] - top)


@cache
def measured_for(size: int, characters: str) -> Font:
    """The sans face measured for `characters` only: no room kept for other ascenders or
    descenders, so text of just those characters sits tight against its neighbours."""
    face = sans(size).face
    _, top, _, bottom = face.getbbox(characters)
    return Font(face, cap_top=top, line_height=bottom - top)


def digits(size: int, others: str = ":") -> Font:
    """For numbers (and `others`): a big countdown sits tight against its neighbours."""
    return measured_for(size, "0123456789" + others)


def capitals(size: int) -> Font:
    """For capital letters (not Q, whose tail descends): a word in capitals can sit on a
    baseline shared with big digits."""
    return measured_for(size, "ABCDEFGHIJKLMNOPRSTUVWXYZ")
