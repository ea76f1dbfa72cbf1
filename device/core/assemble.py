"""The composition root: builds the app from a config and a set of parts, real or simulated."""

from __future__ import annotations

import logging
import tempfile
import uuid
from functools import partial
from pathlib import Path
from typing import Callable

from device.settings.choices import Choices, load_choices, save_choices
from device.base.durable import write_atomically

from device.core.app import App, Hooks, Screen, Timeouts
from device.core.gestures import GestureRecognizer
from device.core.haptics import HapticPlayer, MotorLevels

LONG_HOLD_SECONDS = 10.0   # in idle: ask to power off


def build_app(config, routines, *, clock, set_motor: Callable[[float], None], display, trace: Callable[..., None],
              recorder=None, notices=(), routine_name: str | None = None, services=(),
              request_power_off=None, choices_file: Path | None = None,
              button_is_pressed=None) -> App:
    """Wire the app; `display` needs `push/next_deadline/retry/close`.

    The person's last intensity and routine come from `choices_file` when there is one,
    else from the config; `routine_name` (the simulator's --routine) beats both."""
    from device.screen.display import Frame
    from device.screen.screens import render

    haptics = HapticPlayer(
        set_motor,
        levels=MotorLevels(config.motor.min_duty, config.motor.max_duty, config.motor.kick_ms / 1000),
        enabled=config.motor.haptics,
        on_play=lambda pattern: trace("haptic", pattern=pattern),
    )
    gestures = GestureRecognizer(hold_seconds=config.button.hold_seconds,
                                 double_window=config.button.double_press_ms / 1000,
                                 long_hold_seconds=LONG_HOLD_SECONDS)
    choices = Choices(config.session.intensity, config.session.routine)
    keep_choices = None
    if choices_file is not None:
        choices = load_choices(choices_file, choices)
        keep_choices = partial(save_choices, choices_file)
    timeouts = config.timeouts
    if recorder is not None:
        services = [*services, recorder]   # it retries writes the card refused, on the loop's clock
    return App(
        routines, Choices(choices.intensity, routine_name or choices.routine),
        clock=clock, haptics=haptics, gestures=gestures,
        screen=Screen(display, render=render, make_frame=Frame),
        hooks=Hooks(trace=trace, keep_choices=keep_choices, request_power_off=request_power_off,
                    button_is_pressed=button_is_pressed, services=services),
        recorder=recorder, notices=notices,
        timeouts=Timeouts(timeouts.dim_after, timeouts.off_after,
                          timeouts.summary_return, timeouts.pause_limit),
    )


def open_recorder(state_dir, *, wall_time: Callable[[], float], threaded: bool, simulated: bool = False,
                  **log_options):
    """The session log in `state_dir` (created if needed), wrapped for the app.

    A simulated run's monotonic times are its own clock's, not this boot's: it gets a boot id
    of its own, so the sync's date fixes never take them for this boot's. `log_options` go to
    `SessionLog.open` (a simulated year passes its own `clock_synced` and `connect`)."""
    from device.settings.paths import SESSION_LOG, runtime_dir
    from device.log.recording import SessionRecorder
    from device.log.sessionlog import BOOT_ID_PATH, SessionLog

    state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:   # not the state folder: it may be read-only
        boot_id_path = BOOT_ID_PATH
        if simulated:
            boot_id_path = Path(scratch) / "boot_id"
            boot_id_path.write_text(f"simulated-{uuid.uuid4()}\n")
        # A stop that cannot write the log keeps its sessions in the runtime folder if the
        # state folder will not take them either (a full card): RAM, but better than nothing.
        session_log = SessionLog.open(state_dir / SESSION_LOG, wall_time=wall_time,
                                      boot_id_path=boot_id_path, pending_dirs=[runtime_dir()],
                                      **log_options)
    if session_log.device_id:
        write_device_id(state_dir / "device-id", session_log.device_id)
    return SessionRecorder(session_log, wall_time=wall_time, threaded=threaded)


def write_device_id(path: Path, device_id: str) -> None:
    """The USB gadget script names the device by this file (its USB serial number)."""
    try:
        if path.exists() and path.read_text().strip() == device_id:
            return
        write_atomically(path, (device_id + "\n").encode())
    except OSError as error:   # not fatal: the gadget falls back to the Pi's serial number
        logging.getLogger("facepace").warning("cannot write %s: %s", path, error)
