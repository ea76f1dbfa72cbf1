"""Durations as a person reads them: the one m:ss of the screens, the log and the report.

Durations are kept in whole milliseconds (`exact`, used where the pacer measures them), so
a 30 s zone is 30.0 everywhere, never 29.999999999999996. Each formatter reads its
argument to the millisecond too, so older logs that hold such values show the same.
Time spent rounds down (only whole seconds done count); a countdown rounds up, so it
shows 0:00 only once its time is over.
"""

from __future__ import annotations

import math


# A zone that reached its end to the log's precision ran to its end: no person ends a zone a
# millisecond early (and logs written before the pacer kept milliseconds hold dust such as
# 29.999999999999996 for a 30 s zone). One rule for the pacer's "done" and the log's.
ZONE_END_TOLERANCE_SECONDS = 0.001


def exact(seconds: float) -> float:
    """`seconds` to the millisecond: the precision the log keeps, free of clock-arithmetic dust."""
    return round(seconds, 3)


def whole_seconds_done(seconds: float) -> int:
    """Whole seconds in `seconds`, rounded down, never below zero."""
    return max(0, math.floor(exact(seconds)))


def whole_seconds_left(seconds: float) -> int:
    """Whole seconds in `seconds`, rounded up, never below zero."""
    return max(0, math.ceil(exact(seconds)))


def m_ss(whole_seconds: int) -> str:
    """3:08 for 188 s; 125:05 past two hours (`total` switches to hours)."""
    minutes, rest = divmod(whole_seconds, 60)
    return f"{minutes}:{rest:02d}"


def duration(seconds: float) -> str:
    """m:ss of time spent, rounded down: "0:30" for a 30 s zone, "3:08" for 188.27 s."""
    return m_ss(whole_seconds_done(seconds))


def countdown(seconds: float) -> str:
    """m:ss of time left, rounded up: "0:01" until the very end."""
    return m_ss(whole_seconds_left(seconds))


def total(seconds: float) -> str:
    """A total that may run to hours: m:ss below an hour, then "h:mm h" ("60:12 h")."""
    whole = whole_seconds_done(seconds)
    if whole < 3600:
        return m_ss(whole)
    hours, minutes = divmod(whole // 60, 60)
    return f"{hours}:{minutes:02d} h"
