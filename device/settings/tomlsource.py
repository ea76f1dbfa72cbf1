"""Read a TOML file and remember which line each key came from (`LineMap`, in linemap.py).

Files on the card are hostile: reading one costs at most MAX_FILE_BYTES, and whatever it
holds ends as a `TomlReadError` naming the file (and line) or a parsed source, never another exception
(tests/device/settings/test_tomlsource.py fuzzes this; `make bench` runs the fuzzer for a minute).

Key paths are tuples, as linemap.py describes; validators report problems by them (`Problems`,
`Rule`), with the file and line each one came from.
"""

from __future__ import annotations

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
from device.settings.linemap import LineMap

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
