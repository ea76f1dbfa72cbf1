"""Read a TOML file and remember which line each key came from.

`tomllib` returns plain dicts with no positions, but every message we print must say
FILE:LINE. `LineMap` scans the (already valid) text once and records the line of every
table header and key, so a validator can ask "where is [motor] min_duty?" and, for a key
that is missing, fall back to its table's header or line 1.

Files on the card are hostile: reading one costs at most MAX_FILE_BYTES, and whatever it
holds ends as a `TomlReadError` naming the file (and line) or a parsed source, never another exception
(tests/device/settings/test_tomlsource.py fuzzes this; `make bench` runs the fuzzer for a minute).

Paths are tuples: ("motor", "min_duty"), ("zones", 2, "seconds"); array-of-tables entries
are numbered from 0 in file order.

Size (~350 lines): the line scanner and the hostile-file guards are one reader; they change
together.
"""

from __future__ import annotations

import bisect
import difflib
import os
import re
import stat
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from device.base.errors import FacepaceError, KeyPath, Problem

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_SYNTAX_AT_END = re.compile(r"\s*\(at end of document\)$")
_LONG_NUMBER = re.compile(r"[0-9_]{%d}" % sys.get_int_max_str_digits())
_DEEP_NESTING = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

MAX_FILE_BYTES = 64 * 1024  # a routine or a config is a few KiB; more is a mistake or an attack
MAX_MESSAGES = 20  # a person fixes the first ones first; a flood hides them
REPR_MAX_CHARS = 40  # a value quoted in a message


class TomlReadError(FacepaceError):
    """The file cannot be read or is not valid TOML (`file`, and `line` where one is to blame)."""


@dataclass(frozen=True)
class TomlSource:
    """A parsed TOML file, its bytes, and where each key is."""

    path: Path
    raw: bytes
    data: dict[str, Any]
    lines: LineMap


def read_toml(path: Path) -> TomlSource:
    """Read and parse `path`; raise `TomlReadError` (its file and line) if that fails."""
    try:
        # Non-blocking, so a FIFO named like a routine cannot hang the start.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise TomlReadError("not a regular file", file=path)
            raw = file.read(MAX_FILE_BYTES + 1)  # never more: a huge file is refused unread
    except OSError as error:
        raise TomlReadError(f"cannot read: {error.strerror or error}", file=path) from error
    return parse_toml(raw, path)


def parse_toml(raw: bytes, path: Path) -> TomlSource:
    """Parse bytes already read from `path` (kept as given, for hashing)."""
    if len(raw) > MAX_FILE_BYTES:
        raise TomlReadError(f"too large: a routine or config file is at most "
                            f"{MAX_FILE_BYTES // 1024} KiB", file=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise TomlReadError(f"not UTF-8 text (byte {error.start})", file=path, line=line) from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line, reason = _syntax_line(str(error), text)
        raise TomlReadError(f"invalid TOML: {reason}", file=path, line=line) from error
    except RecursionError as error:  # tomllib recurses once per level of [ and {
        raise TomlReadError("invalid TOML: arrays or inline tables nested too deeply",
                            file=path, line=_deepest_line(text)) from error
    except ValueError as error:  # int() refuses more digits than sys.get_int_max_str_digits()
        long_number = _LONG_NUMBER.search(text)
        if long_number is None:
            raise TomlReadError(f"invalid TOML: {error}", file=path, line=1) from error
        line = text.count("\n", 0, long_number.start()) + 1
        raise TomlReadError(f"invalid TOML: a number too long to read "
                            f"(at most {sys.get_int_max_str_digits()} digits)", file=path, line=line) from error
    return TomlSource(path=path, raw=raw, data=data, lines=LineMap.scan(text))


def _deepest_line(text: str) -> int:
    """The line where [ and { first nest deeper than anything a routine or config needs."""
    depth = position = 0
    while position < len(text):
        char = text[position]
        if char in "\"'":
            position = _end_of_any_string(text, position)
            continue
        if char == "#":
            end = text.find("\n", position)
            position = len(text) if end < 0 else end
        elif char in "[{":
            depth += 1
            if depth > _DEEP_NESTING:
                return text.count("\n", 0, position) + 1
        elif char in "]}":
            depth -= 1
        position += 1
    return 1


def _syntax_line(message: str, text: str) -> tuple[int, str]:
    """Pull the line out of tomllib's "... (at line N, column M)" message."""
    match = _SYNTAX_POSITION.search(message)
    if match:
        return int(match[1]), f"{message[: match.start()]} (column {match[2]})"
    match = _SYNTAX_AT_END.search(message)
    if match:
        # tomllib only knows it ran off the end (an unclosed string or array): the
        # last line is where a person starts looking.
        return text.rstrip("\r\n").count("\n") + 1, message[: match.start()]
    return 1, message


def did_you_mean(name: str, choices: list[str], show=lambda choice: f"'{choice}'") -> str:
    """"; did you mean 'x'?" for a near miss, else the list of allowed names."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    # A shortened name ("hold" for "hold_seconds") is too far apart for difflib.
    close = close or [choice for choice in choices if name and (name in choice or choice in name)]
    if close:
        return f"; did you mean {show(close[0])}?"
    return "; allowed: " + ", ".join(show(choice) for choice in choices)


def printable(message: str) -> str:
    """A message with the file's own control characters escaped: a key named with a line break
    or an ANSI escape must not split a message in two or recolour the terminal."""
    return _CONTROL.sub(lambda match: f"\\u{ord(match[0]):04X}", message)


def toml_repr(value: Any) -> str:
    """A value as it would be written in TOML, for "got ..." in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        if len(escaped) > REPR_MAX_CHARS:
            return f'"{escaped[:REPR_MAX_CHARS]}..." ({len(value)} characters)'
        return f'"{escaped}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int) and abs(value) >= 10**REPR_MAX_CHARS:
        return f"a number of more than {REPR_MAX_CHARS} digits"
    return str(value)


@dataclass(frozen=True)
class Rule:
    """What a setting accepts: a type, then a range (inclusive) or a set of choices."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    as_hex: bool = False  # I2C addresses read better as 0x3C
    check: Callable[[Any], str | None] | None = None  # for text: replaces "must not be empty"
    explained: str = ""   # what is allowed, for a person, when no range or choices say it

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed, or None if it is."""
        if not self._has_kind(value):
            return f"must be {_KIND_NAMES[self.kind]}, got {toml_repr(value)}"
        if self.check is not None:
            return self.check(value)
        if self.choices and value not in self.choices:
            allowed = " or ".join(self._show(choice) for choice in self.choices)
            return f"must be {allowed}, got {self._show(value)}"
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            return f"must be {self._show(self.low)}..{self._show(self.high)}, got {self._show(value)}"
        if self.kind is str and not value.strip():
            return "must not be empty"
        return None

    def _has_kind(self, value: Any) -> bool:
        if isinstance(value, bool):  # bool is an int in Python, never in TOML
            return self.kind is bool
        if self.kind is float:
            return isinstance(value, (int, float))
        return isinstance(value, self.kind)

    def _show(self, value: Any) -> str:
        if isinstance(value, int) and abs(value) >= 10**REPR_MAX_CHARS:
            return toml_repr(value)
        if self.as_hex:
            return f"0x{value:02X}"
        if self.kind is float and isinstance(value, int):
            return f"{value}.0"
        return toml_repr(value)


_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}



class Problems:
    """Every problem found in one file, each with its line and key, in line order."""

    def __init__(self, source: TomlSource) -> None:
        self.source = source
        self._found: list[Problem] = []

    def add(self, key_path: KeyPath, message: str) -> None:
        line = self.source.lines.line_of(key_path)
        self._found.append(Problem(printable(message), self.source.path, line, tuple(key_path)))

    def found(self) -> list[Problem]:
        """The first MAX_MESSAGES in line order, then how many more there are."""
        shown = sorted(self._found, key=lambda problem: problem.line)[:MAX_MESSAGES]   # stable
        if len(self._found) > MAX_MESSAGES:
            shown.append(Problem(f"and {len(self._found) - MAX_MESSAGES} more problems", self.source.path))
        return shown

    def __len__(self) -> int:
        return len(self._found)


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
        scanner = _Scanner(text)
        try:
            scanner.scan()
        except Exception:  # noqa: BLE001 - never reached on valid TOML (the fuzzer checks
            # _Scanner on its own); a line number is a help, never a reason to stop the device.
            pass
        return cls(scanner.lines)


class _Scanner:
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
