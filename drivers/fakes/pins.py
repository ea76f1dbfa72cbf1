"""gpiozero's own MockFactory, told the time by our clock.

gpiozero's mock pins stamp their state history with the real `time.monotonic()`.
Under the simulator's or a test's clock that history would say nothing about
timing, so these subclasses take every timestamp from the factory's `ticks()`,
which is the injected clock. Nothing else about the mock pins changes.
"""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory, MockPWMPin, PinState


class ClockedMockPWMPin(MockPWMPin):
    """A MockPWMPin whose `states` history is timed by the factory's clock."""

    def _change_state(self, value):
        if self._state != value:
            now = self._factory.ticks()
            self._state = value
            self.states.append(PinState(now - self._last_change, value))
            self._last_change = now
            return True
        return False

    def clear_states(self):
        self._last_change = self._factory.ticks()
        self.states = [PinState(0.0, self._state)]

    def timeline(self) -> list[tuple[float, float]]:
        """The history as (absolute clock time, value) pairs, oldest first."""
        moments, now = [], self._created_at
        for delta, value in self.states:
            now += delta
            moments.append((now, value))
        return moments

    def __init__(self, factory, info):
        self._factory = factory  # needed by clear_states(), which the base __init__ calls
        super().__init__(factory, info)
        self._created_at = self._last_change


class ClockedMockFactory(MockFactory):
    """MockFactory whose ticks come from `clock.now()`; every pin can do PWM."""

    def __init__(self, clock, *, revision=None):
        super().__init__(revision=revision, pin_class=ClockedMockPWMPin)
        self._clock = clock

    def ticks(self):
        return self._clock.now()

    @staticmethod
    def ticks_diff(later, earlier):
        return later - earlier
