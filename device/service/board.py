"""Which board this is: `facepace run` and `facepace selftest` start only on a Raspberry Pi."""

from __future__ import annotations

from pathlib import Path

from device.base.errors import NoHardwareError

PI_MODEL = Path("/proc/device-tree/model")
GPIO_CHIP = Path("/dev/gpiochip0")


def require_raspberry_pi(model_file: Path = PI_MODEL, gpio_chip: Path = GPIO_CHIP) -> str:
    """The board's model name, or a clear NoHardwareError pointing to the simulator."""
    model = model_file.read_text(errors="replace").strip("\0\n ") if model_file.exists() else ""
    if "Raspberry Pi" not in model or not gpio_chip.exists():
        raise NoHardwareError(
            "no GPIO found: this machine is not a Raspberry Pi "
            f"({model_file} {'says ' + repr(model) if model else 'is missing'}; "
            f"{gpio_chip} {'exists' if gpio_chip.exists() else 'is missing'}). "
            "To try facepace here, run: facepace sim")
    return model
