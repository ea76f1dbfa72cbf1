"""`facepace selftest` on the simulated parts: the real drivers on gpiozero's mock pins, the fake
SSD1306 and MAX17048 on the fake I2C bus, in virtual time; a failing part each."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from device.core.clock import VirtualClock
from device.core.parts import simulated_parts
from device.service.selftest import PATTERN_SECONDS, RESULT_SECONDS, SelfTest, patterns, selftest_if_held
from device.settings.config import Config
from drivers.fakes.i2c import FakeSSD1306Bus
from drivers.fakes.max17048 import FakeMAX17048

ROOT = Path(__file__).parents[3]


def with_battery(config: Config) -> Config:
    return dataclasses.replace(config, battery=dataclasses.replace(config.battery, enabled=True))


class Bench:
    """The parts on a bench, and a finger on the button."""

    def __init__(self, *, config: Config | None = None, bus=None, gauge: bool = True) -> None:
        self.config = config or with_battery(Config())
        self.clock = VirtualClock()
        self.gauge = FakeMAX17048(self.clock, percent=64.0, percent_per_hour=-3.0) if gauge else None
        self.parts = simulated_parts(self.config, self.clock, bus=bus, gauge=self.gauge)
        self.lines: list[str] = []
        self.press_edges: list[float] | None = [0.0, 0.15]   # seconds after "press now": down, up

    def say(self, line: str) -> None:
        self.lines.append(line)
        if "press the button now" in line and self.press_edges:
            finger = self.parts.pins.pin(self.config.button.pin)
            start = self.clock.now() + 1.0
            for number, offset in enumerate(self.press_edges):
                self.clock.call_at(start + offset, finger.drive_low if number % 2 == 0 else finger.drive_high)

    def run(self) -> int:
        return SelfTest(self.config, self.parts, say=self.say).run()

    def verdicts(self) -> dict[str, str]:
        return {line.split(":")[0].split(" ", 1)[1]: line.split(" ", 1)[0]
                for line in self.lines if line.startswith(("PASS ", "FAIL "))}


def test_every_part_passes_and_each_pattern_reaches_the_glass():
    bench = Bench()
    bus = bench.parts.bus
    seen = []
    panel_opens = RESULT_SECONDS   # after the scan's verdict
    for index in range(4):
        bench.clock.call_at(panel_opens + (index + 0.5) * PATTERN_SECONDS, lambda: seen.append(bus.image()))
    assert bench.run() == 0
    assert [image.tobytes() for image in seen] == [pattern.tobytes() for pattern in patterns().values()]
    assert bench.verdicts() == {"I2C bus": "PASS", "panel": "PASS", "motor": "PASS", "button": "PASS",
                                "battery": "PASS"}
    assert "PASS I2C bus: fuel gauge at 0x36, OLED at 0x3C" in bench.lines
    assert "PASS battery: 64%, 3.88 V" in bench.lines
    assert bench.lines[-1] == "all parts passed"
    assert not bus.powered   # the panel is cleared and off at the end


def test_the_motor_gets_each_level_after_a_full_power_kick():
    bench = Bench()
    bench.run()
    motor = bench.parts.pins.pin(bench.config.motor.pin).timeline()
    duties = [duty for _, duty in motor if duty]
    assert duties[0::2] == [1.0] * 5                       # the kick before each level
    assert duties[1::2] == sorted(duties[1::2]) and duties[1] == pytest.approx(0.35 + 0.65 * 0.2 / 0.96, abs=0.2)
    kicks = [(at, next_at) for (at, duty), (next_at, _) in zip(motor, motor[1:]) if duty == 1.0]
    assert all(next_at - at == pytest.approx(0.025) for at, next_at in kicks[:4])
    assert motor[-1][1] == 0.0


def test_the_contact_bounce_is_measured_and_too_much_fails():
    bench = Bench()
    bench.press_edges = [0.0, 0.002, 0.003, 0.006, 0.2]   # down, bounces, settled down at 6 ms, up
    bench.run()
    assert "PASS button: pressed; contact bounce 6 ms (debounce 20 ms)" in bench.lines
    worn = Bench()
    worn.press_edges = [0.0, 0.010, 0.020, 0.035, 0.3]
    assert worn.run() == 1
    assert "FAIL button: pressed; contact bounce 35 ms is longer than [button] bounce_ms = 20" in worn.lines


def test_no_press_within_the_timeout_fails_the_button_step_only():
    bench = Bench()
    bench.press_edges = None
    assert bench.run() == 1
    assert bench.verdicts() == {"I2C bus": "PASS", "panel": "PASS", "motor": "PASS", "button": "FAIL",
                                "battery": "PASS"}
    assert "FAIL button: no press within 10 s (check GPIO 17 and GND)" in bench.lines


def test_no_oled_on_the_bus_fails_the_scan_and_the_panel_and_the_rest_still_runs():
    bench = Bench(bus=FakeSSD1306Bus(address=0x3D))   # a panel strapped to the other address
    assert bench.run() == 1
    assert "FAIL I2C bus: fuel gauge at 0x36, unknown device at 0x3D, no OLED at 0x3C" in bench.lines
    assert "FAIL panel: [Errno 6] no SSD1306 answers at I2C address 0x3C" in bench.lines
    assert bench.verdicts()["button"] == "PASS" and bench.verdicts()["battery"] == "PASS"
    assert bench.lines[-1] == "2 step(s) failed"


def test_no_gauge_fails_the_scan_and_the_battery():
    bench = Bench(gauge=False)
    assert bench.run() == 1
    assert "FAIL I2C bus: OLED at 0x3C, no fuel gauge at 0x36" in bench.lines
    assert "FAIL battery: [Errno 6] no fuel gauge answers at I2C address 0x36" in bench.lines


def test_without_a_gauge_configured_the_battery_step_says_so():
    bench = Bench(config=Config(), gauge=False)
    assert bench.run() == 0
    assert "PASS battery: no fuel gauge configured ([battery] enabled = false)" in bench.lines


def test_held_at_start_the_self_test_runs_else_nothing():
    bench = Bench()
    assert selftest_if_held(bench.config, bench.parts, say=bench.say) is None and bench.lines == []
    finger = bench.parts.pins.pin(bench.config.button.pin)
    bench.clock.call_at(bench.clock.now() + 0.01, finger.drive_low)   # held while the service starts
    bench.clock.call_at(bench.clock.now() + 1.0, finger.drive_high)   # let go during the scan
    assert selftest_if_held(bench.config, bench.parts, say=bench.say) == 0
    assert bench.lines[0] == "the button is held at start: self-test"


def test_the_command_runs_on_the_simulated_parts(tmp_path):
    result = subprocess.run([sys.executable, "-m", "device", "selftest", "--sim"], capture_output=True, text=True,
                            cwd=ROOT, timeout=120, env=dict(os.environ, FACEPACE_STATE_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "all parts passed"


def test_a_pin_already_in_use_fails_its_step_with_the_reason_and_the_rest_runs():
    bench = Bench()
    from drivers.motor import VibrationMotor

    with VibrationMotor(bench.config.motor.pin, pin_factory=bench.parts.pins):   # the service holds it
        assert bench.run() == 1
    [motor] = [line for line in bench.lines if line.startswith("FAIL motor: ")]
    assert "GPIOPinInUse" in motor and bench.verdicts()["button"] == "PASS"
