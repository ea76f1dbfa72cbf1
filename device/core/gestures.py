"""One button, three gestures: press, double press, hold — from timestamped edges.

Deadlines, not sleeps: a hold is recognised when the button has been down for
`hold_seconds`; a single press once the double-press window after its release has
passed with no second press. Where a screen has no use for a double press the
press is recognised at release, with no wait.

Every gesture comes with the instant it happened (the edge's time, or the deadline
it met), never the time the loop got round to asking: a loop that wakes late still
starts a session, or ends one, at the moment the person's finger said so.
"""

from __future__ import annotations


class GestureRecognizer:
    def __init__(self, *, hold_seconds: float = 1.5, double_window: float = 0.35,
                 long_hold_seconds: float | None = None) -> None:
        self.hold_seconds = hold_seconds
        self.double_window = double_window
        self.long_hold_seconds = long_hold_seconds
        self.double_enabled = True
        self._down_at: float | None = None     # button is down since
        self._released_at: float | None = None  # a press is waiting to see if a second one follows
        self._held = False                      # this press already became a hold
        self._long_held = False
        self._ignore_press = False              # this press only woke the screen, or was a double
        self._quiet_until = float("-inf")       # presses that start before this do nothing

    def edge(self, pressed: bool, at: float, *, ignore: bool = False) -> str | None:
        """Feed one edge; returns a gesture recognised right now, if any."""
        if pressed:
            if self._down_at is not None:       # a lost release edge: start over cleanly
                self._reset()
            ignore = ignore or at < self._quiet_until
            self._down_at, self._held, self._long_held = at, False, False
            self._ignore_press = ignore
            if ignore:
                self._released_at = None
                return None
            if self._released_at is not None:   # second press inside the window
                self._released_at = None
                self._ignore_press = True
                return "double"
            return None
        if self._down_at is None:
            return None
        was_ignored, was_held = self._ignore_press, self._held
        self._down_at = None
        self._ignore_press = False
        if was_ignored or was_held:
            return None
        if not self.double_enabled:
            return "press"
        self._released_at = at
        return None

    def due(self, now: float) -> list[tuple[float, str]]:
        """(instant, gesture) for each gesture whose deadline has passed by `now`, in order."""
        found = []
        if self._down_at is not None and not self._ignore_press:
            if not self._held and now >= self._down_at + self.hold_seconds:
                self._held = True
                found.append((self._down_at + self.hold_seconds, "hold"))
            if (self.long_hold_seconds is not None and not self._long_held
                    and now >= self._down_at + self.long_hold_seconds):
                self._long_held = True
                found.append((self._down_at + self.long_hold_seconds, "long_hold"))
        if self._released_at is not None and now >= self._released_at + self.double_window:
            found.append((self._released_at + self.double_window, "press"))
            self._released_at = None
        return found

    def next_deadline(self) -> float | None:
        deadlines = []
        if self._down_at is not None and not self._ignore_press:
            if not self._held:
                deadlines.append(self._down_at + self.hold_seconds)
            elif self.long_hold_seconds is not None and not self._long_held:
                deadlines.append(self._down_at + self.long_hold_seconds)
        if self._released_at is not None:
            deadlines.append(self._released_at + self.double_window)
        return min(deadlines, default=None)

    def forget_pending_press(self) -> None:
        """The screen changed: drop a single press still waiting out the double-press window,
        and let a press still under the finger (meant for the screen before) do nothing."""
        self._released_at = None
        if self._down_at is not None:
            self._ignore_press = True

    def quiet_until(self, when: float) -> None:
        """Presses that start before `when` do nothing: the second press of a double press that
        a screen without double presses took as a press (acting on the first release)."""
        self._quiet_until = when

    def forget(self) -> None:
        """Start over: as if the button were up and nothing were pending."""
        self._reset()

    def held_for(self, now: float) -> float | None:
        """How long the button has been down in a press that counts, or None."""
        if self._down_at is None or self._ignore_press:
            return None
        return now - self._down_at

    def _reset(self) -> None:
        self._down_at = self._released_at = None
        self._held = self._long_held = self._ignore_press = False
