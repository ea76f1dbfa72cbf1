"""The loop: one thread owns the app's state, and events and deadlines drive it.

It waits on the event queue until the app's earliest deadline (a gesture, a pacing cue, a
haptic step, a screen timeout, a display retry), so it needs no polling and follows the
injected clock exactly.
"""

from __future__ import annotations

import queue
from typing import Callable, Protocol


class Served(Protocol):
    """What the loop needs of the app (device/core/app.py's App)."""

    clock: object
    haptics: object
    stopped: bool

    def handle(self, event) -> None: ...
    def step(self, now: float) -> None: ...
    def next_deadline(self) -> float | None: ...


def serve(app: Served, events: queue.SimpleQueue, *, until: Callable[[], bool] | None = None) -> None:
    """Serve events until the app stops (or `until()` is true). If anything goes wrong, the motor
    is turned off before the error goes on up."""
    clock = app.clock
    try:
        while not app.stopped:
            # Time is read first, then every event already waiting is handled before the
            # step, so a late loop never judges a press by "now": a release that came in
            # before that reading counts first.
            now = clock.now()
            try:
                app.handle(events.get_nowait())
                continue
            except queue.Empty:
                pass
            app.step(now)
            if until is not None and until():
                break
            event = clock.wait(events, app.next_deadline())
            if event is not None:
                app.handle(event)
    except BaseException:
        app.haptics.stop()
        raise
