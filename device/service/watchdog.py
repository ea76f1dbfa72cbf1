"""Feed systemd's watchdog from the main loop, so a hung loop stops the pings and gets restarted.

There is deliberately no background thread here: a thread would keep pinging while the loop that
matters is stuck. The feeder is one of the app's services: the loop calls `poll(now)` on every
pass and includes `next_deadline()` in its wait, so it wakes up in time even when nothing happens.
"""

from __future__ import annotations

from device.service.sdnotify import Notifier


class WatchdogFeeder:
    """Sends WATCHDOG=1 at most once per `notifier.watchdog_interval()`, timed by the loop's
    clock (`clock` gives the first ping's time: at once)."""

    def __init__(self, notifier: Notifier, clock) -> None:
        self._notifier = notifier
        self.interval = notifier.watchdog_interval()
        self._due: float | None = None if self.interval is None else clock.now()

    def next_deadline(self) -> float | None:
        """When the loop must next call `poll()`; None when there is no watchdog."""
        return self._due

    def poll(self, now: float) -> None:
        """Ping if one is due at `now` (the loop's clock); called on every pass of the loop."""
        if self._due is not None and now >= self._due:
            self._notifier.watchdog()
            self._due = now + self.interval
