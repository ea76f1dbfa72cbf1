"""`facepace run`: the firmware on a Raspberry Pi's real pins and bus."""

from __future__ import annotations

import logging
import queue
import signal
import time
from contextlib import ExitStack, closing
from pathlib import Path

from device.app import ButtonEdge, DisplayStatus, Stop
from device.assemble import build_app, open_recorder
from device.clock import MonotonicClock
from device.errors import NoHardwareError
from device.paths import state_dir

log = logging.getLogger("facepace")

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


def main(config, routines, notices) -> int:
    from device.display import DisplayWorker, ResilientDisplay
    from drivers.button import PushButton
    from drivers.motor import VibrationMotor
    from drivers.oled import open_i2c_display

    model = require_raspberry_pi()
    log.info("starting on %s", model)
    clock = MonotonicClock()
    events: queue.Queue = queue.Queue()
    signal.signal(signal.SIGTERM, lambda *_: events.put(Stop("SIGTERM")))
    with ExitStack() as stack:
        display = stack.enter_context(closing(DisplayWorker(ResilientDisplay(
            lambda: open_i2c_display(config.display.bus, config.display.address, config.display.rotation),
            clock, on_status=lambda ok, message: events.put(DisplayStatus(ok, message))))))
        recorder = open_recorder(state_dir(), wall_time=time.time, threaded=True)
        stack.callback(recorder.close)
        button = stack.enter_context(PushButton(
            config.button.pin, bounce_seconds=config.button.bounce_ms / 1000,
            on_edge=lambda pressed: events.put(ButtonEdge(pressed, clock.now()))))
        # Entered last so it closes first: the motor is off before anything else shuts down.
        motor = stack.enter_context(VibrationMotor(config.motor.pin, frequency=config.motor.frequency))
        app = build_app(config, routines, clock=clock, set_motor=motor.set, display=display,
                        trace=_log_event, recorder=recorder, notices=notices)
        app.run(events)
    return 0


def _log_event(event: str, **fields) -> None:
    details = " ".join(f"{key}={value}" for key, value in fields.items())
    level = logging.DEBUG if event in ("haptic", "frame") else logging.INFO
    log.log(level, "%s %s", event, details)

