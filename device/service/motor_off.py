"""`python -m device.service.motor_off`: drive the motor pin low, from outside the firmware.

systemd runs this after every stop of facepace.service (ExecStopPost=, as root, outside the
sandbox), so that even after a SIGKILL by the watchdog the motor cannot stay on in case the
kernel keeps a released output driven. The pin comes from the same config the firmware reads;
this is the safety net, so whatever that file holds (too big, not TOML, a bad value, not
there, not readable) a pin is driven low: the configured one when it can be read, else the
default. Uses Raspberry Pi OS's `pinctrl`; where there is none, it says so and does nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

from device.settings.config import MotorConfig, load_config_file_or_defaults
from device.base.errors import ConfigError
from device.settings.paths import DEVICE_CONFIG
from device.settings.tomlsource import read_toml

DEFAULT_PIN = MotorConfig().pin
PIN_RULE = next(item.metadata["rule"] for item in dataclasses.fields(MotorConfig) if item.name == "pin")


def motor_pin(config_path: Path) -> tuple[int, str]:
    """The pin the motor is on, and where that answer came from (for the journal)."""
    try:
        config = load_config_file_or_defaults(config_path)
        return config.motor.pin, f"from {config.source}" if config.source else "the default, no config"
    except ConfigError as error:
        # The firmware refuses such a file, but it may have been edited while a good one
        # was running: a [motor] pin that is itself valid is still the best guess.
        pin = _valid_motor_pin(config_path)
        first_problem = error.problems[0]
        if pin is not None:
            return pin, f"from {config_path}, which has other problems: {first_problem}"
        return DEFAULT_PIN, f"the default, as the config cannot be used: {first_problem}"
    except Exception as error:  # noqa: BLE001 - no fault in a file may keep the motor on
        return DEFAULT_PIN, f"the default, as reading the config failed: {error!r}"


def _valid_motor_pin(config_path: Path) -> int | None:
    try:
        motor = read_toml(config_path).data.get("motor")
        pin = motor.get("pin") if isinstance(motor, dict) else None
        return pin if PIN_RULE.problem(pin) is None else None
    except Exception:  # noqa: BLE001 - the default pin is the answer then
        return None


def main(config_path: Path = DEVICE_CONFIG) -> int:
    pin, reason = motor_pin(config_path)
    pinctrl = shutil.which("pinctrl")
    if pinctrl is None:
        print(f"facepace motor-off: no pinctrl here; GPIO {pin} ({reason}) not driven", file=sys.stderr)
        return 0
    code = subprocess.run([pinctrl, "set", str(pin), "op", "dl"], check=False).returncode
    outcome = "driven low" if code == 0 else f"NOT driven low (pinctrl exit {code})"
    print(f"facepace motor-off: GPIO {pin} {outcome}; pin: {reason}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
