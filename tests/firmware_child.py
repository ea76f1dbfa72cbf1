"""Runs the real `facepace run` command with only the hardware swapped for fakes:
gpiozero's mock pins (as its default pin factory) and a fake I2C panel under the real driver.

Started by tests/test_firmware.py and the SIGTERM benchmark in a child process, so that
SIGTERM, $NOTIFY_SOCKET and the exit code are real.
FACEPACE_TEST_PRESS_AT=S presses the button S seconds after start (starts a session);
FACEPACE_TEST_HANG_AFTER=S makes the main loop hang S seconds after start (a deliberate bug);
FACEPACE_TEST_CRASH_AFTER=S makes the main loop raise S seconds after start (another bug).
"""

import os
import sys
import threading
import time

from gpiozero import Device

from device import app as app_module
from device import cli, firmware
from device.clock import MonotonicClock
from device.config import Config
from drivers import oled
from drivers.fake_i2c import FakeSSD1306Bus
from drivers.mockpins import ClockedMockFactory

STARTED = time.monotonic()


def fake_hardware() -> None:
    Device.pin_factory = ClockedMockFactory(MonotonicClock())
    bus = FakeSSD1306Bus()
    oled.open_i2c_display = lambda bus_number, address, rotation: oled.OledDisplay(bus, rotation=rotation)
    firmware.require_raspberry_pi = lambda: "Raspberry Pi (mock pins, fake panel)"


def misbehave(after: float, problem) -> None:
    real_step = app_module.App.step

    def step(self, now):
        if time.monotonic() - STARTED > after:
            problem()
        real_step(self, now)
    app_module.App.step = step


def crash():
    raise RuntimeError("deliberate bug for the test")


def press_later(delay: float) -> None:
    def press():
        time.sleep(delay)
        pin = Device.pin_factory.pin(Config().button.pin)
        pin.drive_low()
        time.sleep(0.1)
        pin.drive_high()
    threading.Thread(target=press, daemon=True).start()


if __name__ == "__main__":
    fake_hardware()
    if os.environ.get("FACEPACE_TEST_HANG_AFTER"):
        misbehave(float(os.environ["FACEPACE_TEST_HANG_AFTER"]), lambda: threading.Event().wait())
    if os.environ.get("FACEPACE_TEST_CRASH_AFTER"):
        misbehave(float(os.environ["FACEPACE_TEST_CRASH_AFTER"]), crash)
    if os.environ.get("FACEPACE_TEST_PRESS_AT"):
        press_later(float(os.environ["FACEPACE_TEST_PRESS_AT"]))
    sys.exit(cli.main(["run"]))
