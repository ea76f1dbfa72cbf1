"""Background work steps aside while the loop is about to wake for a cue.

On a Pi Zero 2 the firmware's threads share a slow core (and the bench's CPU quota gives the whole
process 1 ms of CPU per 10 ms window). A log read or a frame that runs in the moments before a cue
is due takes the CPU the cue needs: the loop wakes on time and waits for the rest of the window.
Thread priorities cannot help with a quota (the window's time is simply gone), and a read cannot
be preempted from Python; so the background threads look before each small piece of work (SQLite
calls `step_aside` every few thousand steps of a query, the recorder between rows, the display
worker before a render and before a push) and sleep through the loop's next deadline when it is
near. They lose a few milliseconds around each cue; the cue loses nothing.

`QuietTimes` is built on the loop's clock, which knows when the loop wakes next (`next_wake`);
a clock whose time is virtual (tests, `--speed max`) has no quiet times: nothing sleeps.
"""

from __future__ import annotations

import time
from typing import Callable

# A quota window (10 ms) and a little more before a deadline: what runs then eats the budget the
# loop's cue needs in its window. Just after, the loop is at work on the cue and its frame.
QUIET_BEFORE = 0.012
QUIET_AFTER = 0.002


class QuietTimes:
    """Around the loop's next wake-up, in the loop's clock's seconds."""

    def __init__(self, next_wake: Callable[[], float | None], now: Callable[[], float],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._next_wake = next_wake
        self._now = now
        self._sleep = sleep

    @classmethod
    def of(cls, clock) -> "QuietTimes":
        """For the loop's `clock`: `NEVER` if its time is virtual (it moves only when the loop
        waits: a background thread sleeping would only be slower)."""
        if not clock.real_time:
            return NEVER
        return cls(lambda: clock.next_wake, clock.now, lambda seconds: time.sleep(seconds / clock.speed))

    def step_aside(self) -> None:
        """From a background thread: if the loop wakes within QUIET_BEFORE, wait until just after."""
        deadline = self._next_wake()
        if deadline is None:
            return
        now = self._now()
        if deadline - QUIET_BEFORE <= now < deadline + QUIET_AFTER:
            self._sleep(deadline + QUIET_AFTER - now)


NEVER = QuietTimes(lambda: None, lambda: 0.0)   # no quiet times: nothing ever steps aside
