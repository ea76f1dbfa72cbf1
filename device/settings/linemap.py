"""Where each key of a TOML document is: `LineMap`, the line of every table header and key.

`tomllib` returns plain dicts with no positions, but every message we print must say FILE:LINE.
`LineMap.scan` steps once over text tomllib has already accepted and records the line of every
table header and key, so a validator can ask "where is [motor] min_duty?" and, for a key that is
missing, fall back to its table's header or line 1. `Scanner` is the pass itself, without
`LineMap.scan`'s safety net (the fuzzer in tests/support/toml_documents.py checks it so).

Paths are tuples: ("motor", "min_duty"), ("zones", 2, "seconds"); array-of-tables entries
are numbered from 0 in file order.
"""

from __future__ import annotations

import bisect
import re
import tomllib

from device.base.errors import KeyPath

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class LineMap:
    """The line of every table header and key in a valid TOML document."""

    def __init__(self, lines: dict[KeyPath, int]) -> None:
        self._lines = lines

    def line_of(self, key_path: KeyPath) -> int:
        """The key's own line, else the nearest enclosing table's header, else 1."""
        for end in range(len(key_path), 0, -1):
            line = self._lines.get(tuple(key_path[:end]))
            if line is not None:
                return line
        return 1

    @classmethod
    def scan(cls, text: str) -> LineMap:
        scanner = Scanner(text)
        try:
            scanner.scan()
        except Exception:  # noqa: BLE001 - never reached on valid TOML (the fuzzer checks
            # Scanner on its own); a line number is a help, never a reason to stop the device.
            pass
        return cls(scanner.lines)


class Scanner:
    """One pass over valid TOML, character by character, recording where keys and headers are.

    Only the document structure matters here; tomllib has already checked the syntax, so
    the scanner only has to step over values correctly: strings of all four kinds (with
    their escapes and closing quotes), arrays and inline tables over several lines, and
    comments. Every step moves forward, so it ends on any text, valid or not.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self._newlines = [index for index, char in enumerate(text) if char == "\n"]
        self.lines: dict[KeyPath, int] = {}
        self.table: KeyPath = ()
        self.array_counts: dict[KeyPath, int] = {}  # [[name]] path -> entries so far

    def scan(self) -> dict[KeyPath, int]:
        text = self.text
        while True:
            self._skip(" \t\r\n")
            if self.position >= len(text):
                return self.lines
            start = self.position
            if text.startswith("#", start):
                pass  # a comment: skipped with the rest of the line below
            elif text.startswith("[[", start):
                self.position += 2
                keys = self._key()
                array = self._resolve(keys[:-1]) + keys[-1:]
                index = self.array_counts.get(array, 0)
                self.array_counts[array] = index + 1
                self.table = array + (index,)
                self._record_header(self.table, start)
            elif text.startswith("[", start):
                self.position += 1
                self.table = self._resolve(self._key())
                self._record_header(self.table, start)
            else:
                keys = self._key()
                for length in range(1, len(keys) + 1):
                    self._record(self.table + keys[:length], start)
                if text.startswith("=", self.position):
                    self.position += 1
                    self._skip_value()
            self._skip_to_line_end()
            self.position = max(self.position, start + 1)

    # -- keys and tables ---------------------------------------------------------------

    def _key(self) -> tuple[str, ...]:
        """A (possibly dotted, possibly quoted) key at the current position."""
        text, keys = self.text, []
        while True:
            self._skip(" \t")
            start = self.position
            if text.startswith(('"', "'"), start):
                self._skip_string()
                keys.append(_unquote(text[start:self.position]))
            else:
                match = _BARE_KEY.match(text, start)
                if not match:
                    return tuple(keys)
                keys.append(match[0])
                self.position = match.end()
            self._skip(" \t")
            if not text.startswith(".", self.position):
                return tuple(keys)
            self.position += 1

    def _resolve(self, keys: tuple[str, ...]) -> KeyPath:
        """A header's path, with the latest index after each array of tables in it."""
        path: KeyPath = ()
        for key in keys:
            path += (key,)
            count = self.array_counts.get(path)
            if count:
                path += (count - 1,)
        return path

    def _record(self, path: KeyPath, position: int) -> None:
        self.lines.setdefault(path, bisect.bisect_right(self._newlines, position) + 1)

    def _record_header(self, path: KeyPath, position: int) -> None:
        """A header also places the tables it implies ([a.b] places [a]; [[z]] places z)."""
        for end in range(1, len(path) + 1):
            self._record(path[:end], position)

    # -- stepping over text ------------------------------------------------------------

    def _skip(self, chars: str) -> None:
        while self.position < len(self.text) and self.text[self.position] in chars:
            self.position += 1

    def _skip_to_line_end(self) -> None:
        end = self.text.find("\n", self.position)
        self.position = len(self.text) if end < 0 else end

    def _skip_value(self) -> None:
        """Step over one value: it ends at the first newline outside brackets, strings and comments."""
        text, depth = self.text, 0
        while self.position < len(text):
            char = text[self.position]
            if char in "\"'":
                self._skip_string()
                continue
            if char == "#":
                self._skip_to_line_end()
                continue
            if char == "\n" and depth <= 0:
                return
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
            self.position += 1

    def _skip_string(self) -> None:
        self.position = _end_of_any_string(self.text, self.position)


def _end_of_any_string(text: str, start: int) -> int:
    """Index just past the string that starts at `start`: basic or literal, one line or several."""
    quote = text[start]
    if text.startswith(quote * 3, start):
        return _end_of_multiline_string(text, start + 3, quote)
    return _end_of_string(text, start)


def _end_of_string(text: str, start: int) -> int:
    """Index just past a one-line string starting at `start` (basic or literal)."""
    quote = text[start]
    position = start + 1
    while position < len(text) and text[position] != "\n":
        if quote == '"' and text[position] == "\\":
            position += 2
            continue
        if text[position] == quote:
            return position + 1
        position += 1
    return min(position, len(text))


def _end_of_multiline_string(text: str, position: int, quote: str) -> int:
    """Index just past a multi-line string whose content starts at `position`.

    In a basic one a backslash escapes the next character (so a backslash and three quotes
    do not close it); the closing quotes may follow up to two quotes of the content.
    """
    while position < len(text):
        if quote == '"' and text[position] == "\\":
            position += 2
        elif text.startswith(quote * 3, position):
            position += 3
            for _ in range(2):
                if text.startswith(quote, position):
                    position += 1
            return position
        else:
            position += 1
    return len(text)


def _unquote(token: str) -> str:
    """The key a quoted key token names, using tomllib so escapes are decoded right."""
    try:
        return tomllib.loads(f"k = {token}")["k"]
    except (tomllib.TOMLDecodeError, KeyError):
        return token.strip("\"'")  # not reached on valid TOML; a key name is better than none
