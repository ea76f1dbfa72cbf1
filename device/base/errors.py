"""The project's own exceptions: one root, `FacepaceError`, and each problem says where.

An error holds one or more `Problem`s: what is wrong and, when a file is to blame, the file,
line and key. The message is built from those fields in one way ("FILE:LINE: what", as a
compiler says it), so code that needs the file or line reads the field, never the message.
`device.cli.main` is the one place that prints errors and picks the exit code.

`drivers/` import nothing of ours (tests/test_architecture.py), so what they raise lives in
`drivers.errors`; each of those has a subclass here that is both, and that is what the device
raises and catches (`NoHardwareError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import drivers.errors
from device.base.output_safety import for_terminal

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing to fix. `what` names the key in the file's own words ("[motor] min_duty must
    be 0.0..1.0, got 1.5"); `key` is the same place as data: ("motor", "min_duty"), ("zones", 2,
    "seconds") with entries of an array of tables numbered from 0."""

    what: str
    file: Path | None = None
    line: int | None = None   # None: the file as a whole (missing, unreadable, too large)
    key: KeyPath = ()

    def __str__(self) -> str:
        if self.file is None:
            return self.what
        # A file on the card may be named with a line break or an escape sequence.
        where = for_terminal(str(self.file)) + ("" if self.line is None else f":{self.line}")
        return f"{where}: {self.what}"


class FacepaceError(Exception):
    """Base for errors a person can act on: one problem (`what`, and `file`, `line`, `key`
    where they apply) or several (`problems=`), one per line of the message."""

    def __init__(self, what: str = "", *, file: Path | str | None = None, line: int | None = None,
                 key: KeyPath = (), problems: Iterable[Problem] = ()) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems) or (
            Problem(what, None if file is None else Path(file), line, tuple(key)),)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(map(str, self.problems))

    @property
    def what(self) -> str:
        return self.problems[0].what

    @property
    def file(self) -> Path | None:
        return self.problems[0].file

    @property
    def line(self) -> int | None:
        return self.problems[0].line

    @property
    def key(self) -> KeyPath:
        return self.problems[0].key


class UsageError(FacepaceError):
    """The command line asks for something that cannot be done (exit 2, like argparse's own)."""


class ConfigError(FacepaceError):
    """A config file is missing or has bad values: every problem at once, each with its file,
    line and key (exit 78)."""


class RoutineError(FacepaceError):
    """A routine file is invalid, or no routine has the name asked for: every problem at once."""


class NoHardwareError(FacepaceError, drivers.errors.NoHardwareError):
    """The real GPIO or I2C bus is not there (not a Raspberry Pi, or not wired/enabled)."""
