"""Runs `device.firmware.serve` as `facepace run` would, on gpiozero mock pins and a fake I2C panel.

Started by tests/test_firmware.py in a child process so that SIGTERM and $NOTIFY_SOCKET are real.
FACEPACE_TEST_PRESS_AT=S presses the button S seconds after start (starts a session);
FACEPACE_TEST_HANG_AFTER=S makes the main loop hang S seconds after start (a deliberate bug).
"""

import logging
import os
import sys
import threading
import time

from device import app as app_module
from device.clock import MonotonicClock
from device.config import Config
from device.firmware import serve
from device.routines import load_library
from drivers.fake_i2c import FakeSSD1306Bus
from drivers.mockpins import ClockedMockFactory
from drivers.oled import OledDisplay


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")  # as `facepace run`
    clock = MonotonicClock()
    pins = ClockedMockFactory(clock)
    bus = FakeSSD1306Bus()
    started = clock.now()
    hang_after = float(os.environ.get("FACEPACE_TEST_HANG_AFTER", "0"))
    if hang_after:
        real_step = app_module.App.step

        def step(self, now):
            if now - started > hang_after:
                threading.Event().wait()      # stuck for good, as a deadlock would be
            real_step(self, now)
        app_module.App.step = step
    press_at = float(os.environ.get("FACEPACE_TEST_PRESS_AT", "0"))
    if press_at:
        def press():
            time.sleep(press_at)
            pin = pins.pin(Config().button.pin)
            pin.drive_low()
            time.sleep(0.1)
            pin.drive_high()
        threading.Thread(target=press, daemon=True).start()
    return serve(Config(), list(load_library(None).routines), [],
                 open_panel=lambda: OledDisplay(bus), pin_factory=pins, clock=clock)


if __name__ == "__main__":
    sys.exit(main())
