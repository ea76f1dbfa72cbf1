"""The goal's settings and their checks: the weekly goal, the week's first day, gentle start,
rest periods and the habit anchor phrase. The rules that use them are `device.log.goals`;
these live here so the config, the settable table and the owner's store check them alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

from device.settings.tomlsource import toml_repr

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_REST_PERIODS = 26           # kept in the settings, newest last; older ones drop off
MAX_REST_DAYS = 366
ANCHOR_MAX_CHARS = 21           # one line of the idle screen's small font
GENTLE_MAX_SESSIONS = 30
_INTERVAL = re.compile(r"(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class Rest:
    """Days (both inclusive, in the person's calendar) not asked of the person."""

    first: date
    last: date

    def __contains__(self, day: date) -> bool:
        return self.first <= day <= self.last

    def interval(self) -> str:
        """ISO 8601, as the setting stores it: "2026-12-03/2026-12-14"."""
        return f"{self.first.isoformat()}/{self.last.isoformat()}"


def parse_rests(intervals: Iterable[str]) -> tuple[Rest, ...]:
    """From the setting's strings; call `rests_problem` first."""
    rests = []
    for text in intervals:
        first, last = _INTERVAL.fullmatch(text).groups()
        rests.append(Rest(date.fromisoformat(first), date.fromisoformat(last)))
    return tuple(rests)


def rests_problem(value: Any) -> str | None:
    """Why `value` is not a list of rest periods ("2026-12-03/2026-12-14"), or None."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return f"must be a list of rest periods like \"2026-12-03/2026-12-14\", got {toml_repr(value)}"
    if len(value) > MAX_REST_PERIODS:
        return f"must hold at most {MAX_REST_PERIODS} rest periods, got {len(value)}"
    for item in value:
        match = _INTERVAL.fullmatch(item)
        try:
            first, last = (date.fromisoformat(part) for part in match.groups()) if match else (None, None)
        except ValueError:
            first = last = None
        if first is None:
            return f"must hold rest periods like \"2026-12-03/2026-12-14\", got {toml_repr(item)}"
        if last < first or (last - first).days >= MAX_REST_DAYS:
            return f"must hold rest periods of 1..{MAX_REST_DAYS} days, first day first, got {toml_repr(item)}"
    return None


def anchor_problem(value: Any) -> str | None:
    """A short phrase the idle screen shows as it is ("After brushing teeth"): one line of
    Latin-1 printable characters (the screen's font has no others), at most ANCHOR_MAX_CHARS."""
    if not isinstance(value, str):
        return f"must be a string, got {toml_repr(value)}"
    if len(value) > ANCHOR_MAX_CHARS:
        return f"must be at most {ANCHOR_MAX_CHARS} characters (one line of the screen), got {len(value)}"
    bad = next((char for char in value if not char.isprintable() or ord(char) > 0xFF), None)
    if bad is not None:
        return f"must be letters the screen can show (Latin-1, no control characters), got {toml_repr(value)}"
    return None
