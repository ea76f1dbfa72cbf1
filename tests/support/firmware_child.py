"""Runs the real `facepace run` command with only the hardware swapped for fakes:
gpiozero's mock pins (as its default pin factory) and a fake I2C panel under the real driver.

Started by tests/device/service/test_firmware.py and the SIGTERM benchmark in a child process, so that
SIGTERM, $NOTIFY_SOCKET and the exit code are real.
FACEPACE_TEST_PRESS_AT=S presses the button S seconds after the main loop first runs (starts a
session; a press any earlier, before the button is set up, would be lost on a busy machine);
FACEPACE_TEST_HANG_AFTER=S makes the main loop hang S seconds after start (a deliberate bug),
saying so first with STATUS=HANG_STATUS on $NOTIFY_SOCKET from the loop itself, so the test knows
that every WATCHDOG=1 the loop sent is already queued before that message;
FACEPACE_TEST_CRASH_IN_SESSION=1 makes the main loop raise once a session has started (another bug).
"""

import os
import sys
import threading
import time

from gpiozero import Device

from device.core import app as app_module
from device.cli import main as cli
from device.service import firmware
from device.core.clock import MonotonicClock
from device.settings.config import Config
from device.service.sdnotify import Notifier
from drivers import oled
from drivers.fakes.i2c import FakeSSD1306Bus
from drivers.fakes.pins import ClockedMockFactory

STARTED = time.monotonic()
HANG_STATUS = "test: the main loop hangs now"


def fake_hardware() -> None:
    Device.pin_factory = ClockedMockFactory(MonotonicClock())
    bus = FakeSSD1306Bus()
    oled.open_i2c_display = lambda bus_number, address, rotation: oled.OledDisplay(bus, rotation=rotation)
    firmware.require_raspberry_pi = lambda: "Raspberry Pi (mock pins, fake panel)"


def misbehave(when, problem) -> None:
    """Call `problem()` on the first pass of the main loop at which `when(app)` is true."""
    real_step = app_module.App.step

    def step(self, now):
        if when(self):
            problem()
        real_step(self, now)
    app_module.App.step = step


def hang():
    Notifier(os.environ.get("NOTIFY_SOCKET")).status(HANG_STATUS)
    threading.Event().wait()


def crash():
    raise RuntimeError("deliberate bug for the test")


def press_later(delay: float) -> None:
    loop_runs = threading.Event()
    misbehave(lambda app: not loop_runs.is_set(), loop_runs.set)

    def press():
        loop_runs.wait()
        time.sleep(delay)
        pin = Device.pin_factory.pin(Config().button.pin)
        pin.drive_low()
        time.sleep(0.1)
        pin.drive_high()
    threading.Thread(target=press, daemon=True).start()


if __name__ == "__main__":
    fake_hardware()
    if os.environ.get("FACEPACE_TEST_HANG_AFTER"):
        hang_after = float(os.environ["FACEPACE_TEST_HANG_AFTER"])
        misbehave(lambda app: time.monotonic() - STARTED > hang_after, hang)
    if os.environ.get("FACEPACE_TEST_CRASH_IN_SESSION"):
        misbehave(lambda app: app.state == "running", crash)
    if os.environ.get("FACEPACE_TEST_PRESS_AT"):
        press_later(float(os.environ["FACEPACE_TEST_PRESS_AT"]))
    sys.exit(cli.main(["run"]))
