"""The one push button: BCM 17 to ground, internal pull-up, read with gpiozero."""

from __future__ import annotations

from typing import Callable

from gpiozero import Button


class PushButton:
    """Reports each debounced edge as `on_edge(pressed)`; the gesture logic lives in the app.

    gpiozero calls back from its own thread, so `on_edge` must only hand the edge
    over (put it on the app's queue) and return.
    """

    def __init__(self, pin: int = 17, *, on_edge: Callable[[bool], None],
                 bounce_seconds: float = 0.02, pin_factory=None) -> None:
        # Without bounce_time gpiozero reports several edges per press on a real switch.
        self._button = Button(pin, pull_up=True, bounce_time=bounce_seconds,
                              pin_factory=pin_factory)
        self._button.when_pressed = lambda: on_edge(True)
        self._button.when_released = lambda: on_edge(False)

    @property
    def is_pressed(self) -> bool:
        return self._button.is_pressed

    @property
    def pin(self):
        return self._button.pin

    def close(self) -> None:
        self._button.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
