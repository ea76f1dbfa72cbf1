"""The button and motor drivers on gpiozero's own mock pins: what the real pins would be told.

Everything here is read back from gpiozero's pins (pull, bounce, frequency, state and its
history), never from our own classes, so a driver that stops configuring the hardware
the way issue 3 asks fails here even though no test has a Raspberry Pi.
"""

from __future__ import annotations

import pytest

from device.core.clock import VirtualClock
from drivers.button import PushButton
from drivers.fakes.pins import ClockedMockFactory, ClockedMockPWMPin
from drivers.motor import VibrationMotor

BUTTON_PIN, MOTOR_PIN = 17, 18


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=100.0)


@pytest.fixture
def factory(clock):
    pins = ClockedMockFactory(clock)
    yield pins
    pins.reset()


# --- Button -------------------------------------------------------------------------------

def test_the_button_is_debounced_for_20_ms_by_default_with_the_internal_pull_up(factory):
    edges = []
    with PushButton(on_edge=edges.append, pin_factory=factory):
        pin = factory.pin(BUTTON_PIN)
        # gpiozero's default bounce_time is None: several edges per press on a real switch.
        assert pin.bounce == pytest.approx(0.02)
        # Wired from BCM 17 to ground, so the pin must be pulled up inside the Pi.
        assert pin.pull == "up"
        assert pin.state == 1
        assert pin.edges == "both"   # press and release are both reported


def test_the_configured_bounce_reaches_the_pin(factory):
    with PushButton(BUTTON_PIN, on_edge=lambda pressed: None, bounce_seconds=0.05, pin_factory=factory):
        assert factory.pin(BUTTON_PIN).bounce == pytest.approx(0.05)


def test_pulling_the_pin_to_ground_is_a_press_and_letting_go_a_release(factory):
    edges = []
    with PushButton(BUTTON_PIN, on_edge=edges.append, pin_factory=factory) as button:
        pin = factory.pin(BUTTON_PIN)
        assert not button.is_pressed and edges == []
        pin.drive_low()
        assert button.is_pressed and edges == [True]
        pin.drive_high()
        assert not button.is_pressed and edges == [True, False]


def test_closing_the_button_releases_the_pin_and_is_safe_twice(factory):
    edges = []
    button = PushButton(BUTTON_PIN, on_edge=edges.append, pin_factory=factory)
    pin = factory.pin(BUTTON_PIN)
    button.close()
    button.close()
    pin.drive_low()          # nobody listens any more
    assert edges == []
    # The pin is free: a new button can take it (gpiozero refuses a pin still reserved).
    with PushButton(BUTTON_PIN, on_edge=edges.append, pin_factory=factory):
        pass


# --- Motor --------------------------------------------------------------------------------

def test_the_motor_runs_pwm_at_250_hz_by_default_and_starts_off(factory):
    with VibrationMotor(pin_factory=factory):
        pin = factory.pin(MOTOR_PIN)
        assert pin.function == "output"
        assert pin.frequency == 250
        assert pin.state == 0
        assert [state for _, state in pin.states] == [0]   # never on, not even for a moment


def test_the_configured_frequency_reaches_the_pin(factory):
    with VibrationMotor(MOTOR_PIN, frequency=1000, pin_factory=factory):
        assert factory.pin(MOTOR_PIN).frequency == 1000


def test_the_duty_set_is_the_duty_on_the_pin(factory, clock):
    with VibrationMotor(MOTOR_PIN, pin_factory=factory) as motor:
        pin = factory.pin(MOTOR_PIN)
        motor.set(1.0)
        clock.advance(0.025)
        motor.set(0.4)
        clock.advance(0.1)
        motor.off()
        assert pin.timeline() == [(100.0, 0), (100.0, 1.0), (100.025, 0.4), (100.125, 0.0)]


class ReleaseAwarePin(ClockedMockPWMPin):
    """Notes, for each change of level, whether the pin was still driving PWM at the time."""

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed:
            self.levels_while_driven.append((value, self.frequency is not None))
        return changed

    def __init__(self, factory, info):
        self.levels_while_driven = []
        super().__init__(factory, info)


def test_close_turns_the_motor_off_before_releasing_the_pin_and_is_safe_twice(factory):
    factory.pin_class = ReleaseAwarePin
    motor = VibrationMotor(MOTOR_PIN, pin_factory=factory)
    pin = factory.pin(MOTOR_PIN)
    motor.set(0.8)
    motor.close()
    assert pin.state == 0
    assert pin.frequency is None             # PWM stopped, pin given back
    # Off first, by the device, while it still owned the pin: releasing a running PWM pin
    # is not how the motor should stop.
    assert pin.levels_while_driven[-1] == (0.0, True)
    motor.close()
    assert pin.state == 0
    assert motor.duty == 0.0
    motor.set(1.0)                            # a late haptic after close changes nothing
    assert pin.state == 0
    # The pin is free for the next owner.
    with VibrationMotor(MOTOR_PIN, pin_factory=factory):
        assert pin.state == 0
