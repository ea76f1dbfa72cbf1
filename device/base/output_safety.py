"""Text from a device or a file, made safe to print: for a terminal and for a spreadsheet.

A routine's name is a file name and a synced session comes over a cable: either can hold
an escape sequence that recolours or rewrites the terminal, or a "fake" line. And a CSV
cell starting with `=` is a formula to a spreadsheet (`=HYPERLINK(...)` sends data away).
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls (ESC starts every terminal sequence), DEL, line and paragraph
# separators, and the bidi overrides that make text display in another order.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")   # OWASP's list for CSV injection


def for_terminal(text: str) -> str:
    """Each control character as `?` (as `ls` shows them): seen, never obeyed."""
    return _CONTROLS.sub("?", text)


def for_spreadsheet(cell: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, quoted with a leading `'`;
    anything else as it is (numbers stay numbers, a negative one included)."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell
