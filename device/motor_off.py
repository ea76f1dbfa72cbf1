"""`python -m device.motor_off`: drive the configured motor pin low, from outside the firmware.

systemd runs this after every stop of facepace.service (ExecStopPost=, as root, outside the
sandbox), so that even after a SIGKILL by the watchdog the motor cannot stay on in case the
kernel keeps a released output driven. The pin comes from the same config the firmware reads.
Uses Raspberry Pi OS's `pinctrl`; where there is none, it says so and does nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from device.config import load_config_file_or_defaults
from device.errors import ConfigError
from device.paths import DEVICE_CONFIG


def main(config_path: Path = DEVICE_CONFIG) -> int:
    try:
        pin = load_config_file_or_defaults(config_path).motor.pin
    except ConfigError:
        pin = 18   # the firmware refused to start on this config; the default pin is the best guess
    pinctrl = shutil.which("pinctrl")
    if pinctrl is None:
        print("facepace motor-off: no pinctrl here; nothing done", file=sys.stderr)
        return 0
    return subprocess.run([pinctrl, "set", str(pin), "op", "dl"], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
