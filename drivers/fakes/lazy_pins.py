"""A pin factory made on first use.

The Pi's real parts import gpiozero only when the button is made, after the first frame is on the
panel (issue 12); the simulated parts' mock factory (about 60 ms of imports here) is made the same
way, so a benchmark's start-up is the Pi's.
"""

from __future__ import annotations

from typing import Callable


class LazyPins:
    """Stands for the factory `make()` returns, made the first time anything of it is asked for."""

    def __init__(self, make: Callable[[], object]) -> None:
        self._make = make
        self._factory = None

    def __getattr__(self, name: str):
        # Only for names LazyPins itself lacks: everything a factory has.
        if self._factory is None:
            self._factory = self._make()
        return getattr(self._factory, name)
