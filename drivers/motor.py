"""The ERM coin vibration motor on BCM 18 through a transistor, driven by gpiozero PWM."""

from __future__ import annotations

from gpiozero import PWMOutputDevice


class VibrationMotor:
    """Sets the motor's PWM duty. Patterns and the kick-start are timed by `device.core.haptics`.

    Fit a pull-down (10 kΩ) from the transistor's base to ground: if the process is
    killed, the pin is released and the motor must stay off.
    """

    def __init__(self, pin: int = 18, *, frequency: int = 250, pin_factory=None) -> None:
        self._device = PWMOutputDevice(pin, frequency=frequency, initial_value=0,
                                       pin_factory=pin_factory)

    @property
    def duty(self) -> float:
        return 0.0 if self._device.closed else self._device.value

    def set(self, duty: float) -> None:
        if not 0.0 <= duty <= 1.0:
            raise ValueError(f"motor duty must be 0.0..1.0, got {duty}")
        if not self._device.closed:
            self._device.value = duty

    def off(self) -> None:
        self.set(0.0)

    @property
    def pin(self):
        return self._device.pin

    def close(self) -> None:
        """Motor off, then release the pin; safe to call twice."""
        if not self._device.closed:
            self._device.value = 0
            self._device.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
