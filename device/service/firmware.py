"""`facepace run`: the firmware on a Raspberry Pi's real pins and bus."""

from __future__ import annotations

import logging
import queue
import signal
import time
from contextlib import ExitStack, closing
from pathlib import Path

from device.core.events import ButtonEdge, DisplayStatus, Stop
from device.core.assemble import build_app, open_recorder
from device.core.clock import MonotonicClock
from device.base.errors import NoHardwareError
from device.settings.paths import runtime_dir, state_dir

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


OFF_SCREEN_SECONDS = 0.5   # how long "Off" stays up before the panel is cleared


def main(config, routines, notices) -> int:
    """`facepace run` on the real pins and I2C bus."""
    from drivers.oled import open_i2c_display

    model = require_raspberry_pi()
    log.info("starting on %s", model)
    display = config.display
    return serve(config, routines, notices,
                 open_panel=lambda: open_i2c_display(display.bus, display.address, display.rotation))


def serve(config, routines, notices, *, open_panel) -> int:
    """Run until SIGTERM (or a bug): the firmware loop with its threads, log and systemd hooks."""
    from device.screen.display import DisplayWorker, ResilientDisplay
    from device.service.export_status import ExportStatusWatcher
    from device.service.sdnotify import Notifier
    from device.log.clockfix import HostWallClock
    from device.service.sync_link import SyncLink
    from device.service.watchdog import WatchdogFeeder
    from drivers.button import PushButton
    from drivers.motor import VibrationMotor

    clock = MonotonicClock()
    events: queue.SimpleQueue = queue.SimpleQueue()  # put() is safe in a signal handler
    notifier = Notifier.from_environment()
    signal.signal(signal.SIGTERM, lambda *_: events.put(Stop("SIGTERM")))

    def display_status(ok: bool, message: str) -> None:
        notifier.ready()            # a dead panel must not keep the device from starting
        events.put(DisplayStatus(ok, message))

    with ExitStack() as stack:
        stack.callback(notifier.close)
        # A hung bus must not hold up the stop past systemd's TimeoutStopSec: wait 1 s at most.
        display = stack.enter_context(closing(DisplayWorker(ResilientDisplay(
            open_panel, clock, on_sent=lambda frame: notifier.ready(), on_status=display_status),
            join_timeout=1.0)))
        # The Pi has no real-time clock: a computer that syncs tells us the date.
        wall_clock = HostWallClock()
        recorder = open_recorder(state_dir(), wall_time=wall_clock.time, threaded=True)
        stack.callback(recorder.close)
        # The sync is a process of its own (facepace-sync.service): its progress and the host's clock come here.
        stack.callback(SyncLink.listen(runtime_dir(), send=events.put, wall_clock=wall_clock,
                                       on_clock=recorder.session_log.note_clock_set_by_host).close)
        button = stack.enter_context(PushButton(
            config.button.pin, bounce_seconds=config.button.bounce_ms / 1000,
            on_edge=lambda pressed: events.put(ButtonEdge(pressed, clock.now()))))
        # Entered last so it closes first: the motor is off before anything else shuts down.
        motor = stack.enter_context(VibrationMotor(config.motor.pin, frequency=config.motor.frequency))
        services = [WatchdogFeeder(notifier, clock),
                    ExportStatusWatcher(runtime_dir() / "export-status", events.put)]
        app = build_app(config, routines, clock=clock, set_motor=motor.set, display=display,
                        trace=_log_event, recorder=recorder, notices=notices, services=services,
                        request_power_off=request_power_off, choices_file=state_dir() / "choices.json",
                        button_is_pressed=lambda: button.is_pressed)
        app.run(events)
        notifier.stopping()
        time.sleep(OFF_SCREEN_SECONDS)
    log.info("stopped cleanly")
    return 0


def request_power_off(folder: Path | None = None) -> None:
    """Ask the root helper unit (facepace-poweroff.path) to power the Pi off; we don't run as root."""
    folder = folder or runtime_dir()
    try:
        (folder / "poweroff").touch()
    except OSError as error:
        log.error("cannot request power off in %s: %s", folder, error)


def _log_event(event: str, **fields) -> None:
    details = " ".join(f"{key}={value}" for key, value in fields.items())
    level = logging.DEBUG if event in ("haptic", "frame") else logging.INFO
    log.log(level, "%s %s", event, details)

