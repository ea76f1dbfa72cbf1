"""`facepace selftest`: walk through the parts with the person, each step passing or failing with
its reason, in the terminal and on the panel; the exit code says whether all passed.

Steps: the I2C scan (who answered: the OLED, the fuel gauge), the panel's test patterns, the
motor at each level with its kick-start, "press the button now" with the contact bounce
measured, and the battery's reading. It runs on any `Parts` (the Pi's, or the simulated ones
in the tests and `facepace selftest --sim`), timed by their clock.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import Callable

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 128, 64
PATTERN_SECONDS = 1.0       # each test pattern stays this long
BUZZ_SECONDS = 0.4          # each motor level, after its kick
PRESS_TIMEOUT_SECONDS = 10.0
SETTLE_SECONDS = 0.05       # no edge for this long after the press: the contact has settled
RESULT_SECONDS = 1.5        # each step's verdict stays on the panel
SELFTEST_LONGEST_SECONDS = 60.0   # every step, with the whole wait for a press: what systemd must allow
HELD_SECONDS = 0.1          # at start: still down this long after the pin is opened means held


@dataclass(frozen=True)
class StepResult:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def patterns() -> dict[str, Image.Image]:
    """All on, a checkerboard of single pixels, a one-pixel border, and text."""
    from device.screen import fonts

    all_on = Image.new("1", (WIDTH, HEIGHT), 1)
    checker = Image.new("1", (WIDTH, HEIGHT), 0)
    checker.putdata([(x + y) % 2 for y in range(HEIGHT) for x in range(WIDTH)])
    border = Image.new("1", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(border).rectangle((0, 0, WIDTH - 1, HEIGHT - 1), outline=1)
    text = Image.new("1", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(text).text((2, 24), "facepace self-test", font=fonts.small().face, fill=1)
    return {"all on": all_on, "checkerboard": checker, "border": border, "text": text}


class SelfTest:
    """The steps on `parts` with `config`; `say(line)` hears each line for the terminal."""

    def __init__(self, config, parts, *, say: Callable[[str], None] = print,
                 press_timeout: float = PRESS_TIMEOUT_SECONDS) -> None:
        self.config = config
        self.parts = parts
        self.clock = parts.clock
        self.say = say
        self.press_timeout = press_timeout
        self.panel = None
        self.results: list[StepResult] = []

    def run(self) -> int:
        """Every step, in order; 0 if all passed, else 1. The motor is off and the pins released
        at the end, whatever happened."""
        self.clock.start()
        steps = [("I2C bus", self.scan), ("panel", self.panel_patterns), ("motor", self.motor_levels),
                 ("button", self.button_press), ("battery", self.battery_reading)]
        try:
            for name, step in steps:
                try:
                    passed, detail = step()
                except OSError as error:   # a part that does not answer
                    passed, detail = False, str(error)
                except Exception as error:   # a pin in use, I2C not enabled: the step's verdict, not a crash
                    passed, detail = False, f"{type(error).__name__}: {error}"
                self._report(StepResult(name, passed, detail))
            verdict = all(result.passed for result in self.results)
            self.say("all parts passed" if verdict else
                     f"{sum(not result.passed for result in self.results)} step(s) failed")
            self._show_lines(["All passed" if verdict else "Failed:",
                              *[result.name for result in self.results if not result.passed]])
            self.wait(RESULT_SECONDS)
        finally:
            if self.panel is not None:
                self.panel.close()
        return 0 if verdict else 1

    # -- the steps ---------------------------------------------------------------------------

    def scan(self) -> tuple[bool, str]:
        names = {self.config.display.address: "OLED"}
        if self.config.battery.enabled:
            names[self.config.battery.address] = "fuel gauge"
        answered = self._scan_bus()
        found = [f"{names.get(address, 'unknown device')} at 0x{address:02X}" for address in answered]
        missing = [f"no {name} at 0x{address:02X}" for address, name in names.items() if address not in answered]
        detail = ", ".join(found + missing) or "nothing answered (check SDA, SCL, 3V3 and GND)"
        return not missing, detail

    def panel_patterns(self) -> tuple[bool, str]:
        self.panel = self.parts.open_panel()
        for name, pattern in patterns().items():
            self.say(f"  panel: {name}")
            self.panel.show(pattern)
            self.wait(PATTERN_SECONDS)
        return True, "all on, checkerboard, border, text shown (look for dead pixels and lines)"

    def motor_levels(self) -> tuple[bool, str]:
        from device.core.haptics import MotorLevels, strength
        from drivers.motor import VibrationMotor

        motor_config = self.config.motor
        levels = MotorLevels(motor_config.min_duty, motor_config.max_duty, motor_config.kick_ms / 1000)
        with VibrationMotor(motor_config.pin, frequency=motor_config.frequency,
                            pin_factory=self.parts.pins) as motor:
            for level in range(1, 6):
                duty = levels.duty(strength(level))   # as the cues feel at the person's level
                self.say(f"  motor: level {level}, {levels.kick_seconds * 1000:.0f} ms kick then duty {duty:.2f}")
                motor.set(1.0)
                self.wait(levels.kick_seconds)
                motor.set(duty)
                self.wait(BUZZ_SECONDS)
                motor.off()
                self.wait(BUZZ_SECONDS / 2)
        return True, (f"levels 1-5 driven (duty {levels.duty(strength(1)):.2f}..{levels.duty(strength(5)):.2f}, "
                      f"{motor_config.kick_ms} ms kick); each should feel stronger")

    def button_press(self) -> tuple[bool, str]:
        from drivers.button import PushButton

        self.say(f"  press the button now (within {self.press_timeout:.0f} s)")
        self._show_lines(["Press the button", "now"])
        edges: queue.SimpleQueue = queue.SimpleQueue()
        clock = self.clock
        # No debouncing here: the raw edges are what is measured.
        with PushButton(self.config.button.pin, pin_factory=self.parts.pins, bounce_seconds=None,
                        on_edge=lambda pressed: edges.put((pressed, clock.now()))):
            deadline = clock.now() + self.press_timeout
            first = None
            while first is None or not first[0]:
                first = clock.wait(edges, deadline)
                if first is None:
                    return False, f"no press within {self.press_timeout:.0f} s (check GPIO {self.config.button.pin} and GND)"
            last = first[1]
            while (edge := clock.wait(edges, last + SETTLE_SECONDS)) is not None:
                last = edge[1]
        bounce_ms = (last - first[1]) * 1000
        limit = self.config.button.bounce_ms
        if bounce_ms > limit:
            return False, f"pressed; contact bounce {bounce_ms:.0f} ms is longer than [button] bounce_ms = {limit}"
        return True, f"pressed; contact bounce {bounce_ms:.0f} ms (debounce {limit} ms)"

    def battery_reading(self) -> tuple[bool, str]:
        if self.parts.open_gauge is None:
            return True, "no fuel gauge configured ([battery] enabled = false)"
        gauge = self.parts.open_gauge()
        try:
            reading = gauge.read()
        finally:
            gauge.close()
        charging = {True: ", charging", False: "", None: ""}[reading.charging]
        detail = f"{reading.percent:.0f}%, {reading.volts:.2f} V{charging}"
        if reading.voltage_low:
            return False, detail + ": the cell is below its low-voltage alert"
        return True, detail

    # -- the terminal, the panel, the time ---------------------------------------------------

    def _report(self, result: StepResult) -> None:
        self.results.append(result)
        self.say(result.line())
        self._show_lines([f"{result.name}: {'PASS' if result.passed else 'FAIL'}", *_wrap(result.detail, 21)[:3]])
        self.wait(RESULT_SECONDS)

    def _show_lines(self, lines: list[str]) -> None:
        """On the panel if it opened; a panel that fails is the panel step's verdict, not a stop."""
        if self.panel is None:
            return
        from device.screen import fonts

        image = Image.new("1", (WIDTH, HEIGHT), 0)
        draw = ImageDraw.Draw(image)
        small = fonts.small()
        for row, line in enumerate(lines[:5]):
            draw.text((0, row * 12), small.printable(line), font=small.face, fill=1)
        try:
            self.panel.show(image)
        except OSError:
            pass

    def _scan_bus(self) -> list[int]:
        bus = self.parts.bus
        owned = bus is None
        if owned:
            from drivers.oled import open_linux_i2c

            bus = open_linux_i2c(self.config.display.bus)
        try:
            while not bus.try_lock():
                self.wait(0.001)
            try:
                return sorted(bus.scan())
            finally:
                bus.unlock()
        finally:
            if owned:
                bus.deinit()

    def wait(self, seconds: float) -> None:
        nothing: queue.SimpleQueue = queue.SimpleQueue()
        deadline = self.clock.now() + seconds
        while self.clock.now() < deadline:
            self.clock.wait(nothing, deadline)


def selftest_if_held(config, parts, *, say: Callable[[str], None],
                     on_held: Callable[[], None] = lambda: None) -> int | None:
    """The self-test from the button: held while the service starts, it runs before the device
    does (its exit code), else None. The steps then wait for a fresh press."""
    from drivers.button import PushButton

    with PushButton(config.button.pin, pin_factory=parts.pins, on_edge=lambda pressed: None) as button:
        SelfTest(config, parts).wait(HELD_SECONDS)   # the pull-up settles; a bounce is not a hold
        held = button.is_pressed
    if not held:
        return None
    on_held()
    say("the button is held at start: self-test")
    return SelfTest(config, parts, say=say).run()


def main(config, *, simulated: bool = False, press_timeout: float = PRESS_TIMEOUT_SECONDS,
         say: Callable[[str], None] = print) -> int:
    """`facepace selftest`: on the Pi's parts (stop facepace.service first: it holds the pins),
    or `--sim`: on simulated parts in virtual time, where a finger presses the button 2 s into
    its step and the fuel gauge reads a cell at 80 %."""
    if not simulated:
        from device.core.parts import real_parts
        from device.service.board import require_raspberry_pi

        require_raspberry_pi()
        return SelfTest(config, real_parts(config), say=say, press_timeout=press_timeout).run()
    from dataclasses import replace

    from device.core.clock import VirtualClock
    from device.core.parts import simulated_parts
    from drivers.fakes.max17048 import FakeMAX17048

    clock = VirtualClock()
    config = replace(config, battery=replace(config.battery, enabled=True))
    parts = simulated_parts(config, clock, gauge=FakeMAX17048(clock, percent=80.0, address=config.battery.address))
    finger = parts.pins.pin(config.button.pin)

    def said(line: str) -> None:
        say(line)
        if "press the button now" in line:
            clock.call_at(clock.now() + 2.0, finger.drive_low)
            clock.call_at(clock.now() + 2.15, finger.drive_high)

    return SelfTest(config, parts, say=said, press_timeout=press_timeout).run()


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])
