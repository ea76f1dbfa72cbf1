"""Clocks: the one source of time for the application.

Every clock is monotonic seconds (`now()`), can wait on the event queue until a
deadline (`wait()`), and can run a callback at a given time (`call_at()`), which
the simulator uses to play scripted button presses.

- `MonotonicClock`: real time, for the device.
- `ScaledClock`: simulated time for the simulator: real time running `speed` times
  faster, from the moment the device is ready.
- `VirtualClock`: time only moves when the loop waits; a whole routine runs in
  milliseconds and deterministically (tests, `facepace sim --speed max`).
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from typing import Callable

CLOSE_WAIT_SECONDS = 5.0   # close() waits this long at most for a callback under way


class MonotonicClock:
    """Real monotonic time."""

    speed = 1.0
    boot_time = True   # now() is this boot's CLOCK_MONOTONIC, as the session log may date by it
    real_time = True   # time passes on its own: threads (the log's writer) may work beside the loop
    next_wake: float | None = None   # the deadline the loop waits for now, if any

    def __init__(self) -> None:
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._timer_thread: threading.Thread | None = None
        self._running_at: float | None = None   # the timer whose callback is under way
        self._closed = False

    def now(self) -> float:
        return time.monotonic()

    def wait(self, events, deadline: float | None):
        """Return the next event, or None once `deadline` has passed."""
        self.next_wake = deadline   # background work steps aside near it (device.base.quiet)
        timeout = None if deadline is None else max(0.0, (deadline - self.now()) / self.speed)
        try:
            return events.get(timeout=timeout)
        except queue.Empty:
            return None

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run `callback` at `when` on one timer thread, in time order (a finger's press and
        release 1 ms apart must never swap, as separate threading.Timers can)."""
        with self._changed:
            if self._closed:
                return
            heapq.heappush(self._timers, (when, next(self._order), callback))
            if self._timer_thread is None:
                self._timer_thread = threading.Thread(target=self._run_timers, name="facepace-timers",
                                                      daemon=True)
                self._timer_thread.start()
            self._changed.notify()

    def _timer_time(self) -> float | None:
        """The time the timer thread runs timers by; None while time stands still."""
        return self.now()

    def _run_timers(self) -> None:
        while True:
            with self._changed:
                while not self._closed:
                    current = self._timer_time()
                    if current is not None and self._timers and self._timers[0][0] <= current:
                        break
                    timeout = None
                    if current is not None and self._timers:
                        timeout = (self._timers[0][0] - current) / self.speed
                    self._changed.wait(timeout)
                if self._closed:
                    return
                when, _, callback = heapq.heappop(self._timers)
                self._running_at = when
            try:
                callback()
            finally:
                with self._changed:
                    self._running_at = None

    def close(self) -> None:
        """Drop the timers not yet run and stop the timer thread; safe to call twice."""
        with self._changed:
            self._closed = True
            self._timers.clear()
            self._changed.notify()
            thread = self._timer_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_WAIT_SECONDS)


class ScaledClock(MonotonicClock):
    """Simulated time: real time running `speed` times faster, from 0 at `start()`.

    Two rules make a scripted press land exactly where the script puts it, however busy
    the machine is. Time stands at 0 until `start()` (the simulator starts it when the
    device is ready), so start-up takes no simulated time. And time never passes a timer
    that has not run yet: if the timer thread is late with a finger's release, the loop
    cannot see the moment the press would have become a hold before the release is queued;
    a callback sees `now()` at exactly its own time.
    """

    boot_time = False   # its own time, from 0 at start()

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin: float | None = None
        self._latest = 0.0   # the latest time told: time never goes back
        super().__init__()

    def start(self) -> None:
        """Let time run (from 0); once only."""
        with self._changed:
            if self._origin is None:
                self._origin = time.monotonic()
                self._changed.notify()

    def now(self) -> float:
        elapsed = self._timer_time() or 0.0
        with self._changed:
            not_run = [self._timers[0][0]] if self._timers else []
            if self._running_at is not None:
                not_run.append(self._running_at)
            # A timer set for a moment already seen (a key press "now", read a moment ago)
            # runs at once and must not take time back.
            self._latest = max(self._latest, min([elapsed, *not_run]))
            return self._latest

    def _timer_time(self) -> float | None:
        origin = self._origin
        return None if origin is None else (time.monotonic() - origin) * self.speed


class VirtualClock:
    """Time that advances only when the loop waits: to the deadline, or to the next timer."""

    boot_time = False
    real_time = False   # time moves only with the loop: everything runs on it, in order

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def start(self) -> None:
        """Nothing to do: virtual time already stands still until the loop waits."""

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, running any timers on the way (for tests)."""
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        while self._timers and self._timers[0][0] <= when:
            self._run_next_timer()
        self._now = max(self._now, when)

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._order), callback))

    def wait(self, events, deadline: float | None):
        """Like the real clocks: an event if there is one, else None at the deadline. A timer
        that comes first runs, and the wait returns early so the loop sees the new time."""
        if events.empty():
            next_timer = self._timers[0][0] if self._timers else None
            if next_timer is not None and (deadline is None or next_timer <= deadline):
                self._run_next_timer()
            elif deadline is None:
                raise RuntimeError("VirtualClock.wait with nothing scheduled would wait forever")
            else:
                self._now = max(self._now, deadline)
        return None if events.empty() else events.get_nowait()

    def _run_next_timer(self) -> None:
        when, _, callback = heapq.heappop(self._timers)
        self._now = max(self._now, when)
        callback()

    def close(self) -> None:
        self._timers.clear()
