"""The composition root: builds the running device from a config, its routines and its parts.

`assemble()` is the one place the drivers, the display, the session log, the sync server and
the app are wired together: `facepace run` (device.service.firmware), the simulator
(device.sim.simulator), the benchmarks and the tests all come through it, with real or
simulated `Parts` (device.core.parts). What differs between them beyond the parts is said in
its keyword arguments, never by patching.
"""

from __future__ import annotations

import logging
import queue
from contextlib import ExitStack, closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from device.base.quiet import NEVER, QuietTimes
from device.core.parts import Parts
from device.core.state import State
from device.screen.display import FrameSink

# The rest of the device is imported in `assemble()` once the first frame is on its way: on a Pi's
# budget an import costs ten times what it does here, and the panel should not wait for them (issue 12).
if TYPE_CHECKING:
    from device.core import owned
    from device.core.app import App
    from device.core.goal_settings import GoalSettings
    from device.log.recording import SessionRecorder
    from drivers.button import PushButton
    from drivers.motor import VibrationMotor

LONG_HOLD_SECONDS = 10.0   # in idle: ask to power off
SESSION_STATES = (State.RUNNING, State.PAUSED, State.SUMMARY)   # a change from the computer waits
SAFETY_SHOWN_FILE = "safety-shown"   # in the state folder: the first run's safety pages were read
DISPLAY_JOIN_SECONDS = 1.0  # a hung bus must not hold up the stop past systemd's TimeoutStopSec


class Service(Protocol):
    """Anything the loop runs beside the app: the watchdog, the export status, a test's finger."""

    def next_deadline(self) -> float | None: ...
    def poll(self, now: float) -> None: ...


@dataclass
class RunningDevice:
    """The device as `assemble()` built it; `run()` serves its loop, `close()` (or leaving the
    `with` block) stops it: motor off first, then the button, the sync, the log, the panel."""

    app: App
    events: queue.SimpleQueue            # the loop's one inbox; put() is safe in a signal handler
    button: PushButton
    motor: VibrationMotor
    display: FrameSink
    recorder: SessionRecorder | None
    _stack: ExitStack
    settings: owned.Settings | None = None   # what a change stored by another process means

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        self.app.run(self.events, until=until)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "RunningDevice":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def assemble(config, routines, parts: Parts, *, events: queue.SimpleQueue | None = None,
             traces: Sequence[Callable[..., None]] = (), notices=(),
             services: Sequence[Service] = (), routine_name: str | None = None,
             display_thread: bool = False, serve_sync: bool = False,
             on_frame_sent: Callable | None = None, on_display_status: Callable[[bool, str], None] | None = None,
             on_motor: Callable[[float], None] | None = None,
             request_power_off: Callable[[], None] | None = None, log_options: dict | None = None,
             stick_inbox: Path | None = None, safety_pages: bool = False) -> RunningDevice:
    """Build the device on `parts`.

    `events` is the loop's inbox, if the caller needs it before the device exists (a signal
    handler); `traces` each hear the app's trace (`trace(event, **fields)`); `services` run on the loop beside the app (the firmware's watchdog; a test's planted
    misbehaviour). `display_thread`: the panel gets its own thread (real time; a slow bus never
    holds up the loop). The log writes off the loop when the clock runs in real time.
    `serve_sync`: the USB sync server runs beside the loop (it needs the state folder's log). `on_frame_sent(frame)` and
    `on_display_status(ok, message)` hear from the display (on its thread, if it has one) before
    the loop does; `on_motor(duty)` hears every duty the motor is given. `log_options` go to
    `SessionLog.open` (the year drill's simulated card and its trust in the clock).
    `stick_inbox`: the folder where the USB-stick handler leaves routines for the person to
    accept (a desk of the device's own asks; with `serve_sync`, the sync's).
    `safety_pages`: a first run (no mark in the state folder yet) starts on the safety pages.

    The first frame goes to the panel before anything else is done: a "facepace" splash
    (`StartingView`), shown while the rest is imported and built and, in idle, until the session
    log (opened on its worker, off the start) is first read; the app's first frame replaces it.
    """
    from device.screen.display import DisplayWorker, ResilientDisplay

    if serve_sync and parts.state_dir is None:
        raise ValueError("serve_sync needs parts with a state folder: the sync serves its session log")
    clock = parts.clock
    if events is None:
        events = queue.SimpleQueue()

    def display_status(ok: bool, message: str) -> None:
        from device.core.events import DisplayStatus

        if on_display_status is not None:
            on_display_status(ok, message)
        events.put(DisplayStatus(ok, message))

    with ExitStack() as stack:   # on a failure half-way, what was built is closed again
        resilient = ResilientDisplay(parts.open_panel, clock, on_sent=on_frame_sent, on_status=display_status)
        stack.callback(resilient.close)
        # Here, before the display's thread starts: the panel's first frame comes before anything else.
        show_starting(resilient)
        display = resilient
        if display_thread:   # it renders too: the loop never waits for a render (issue 12)
            from device.screen.screens import render
            display = DisplayWorker(resilient, clock, render=render, join_timeout=DISPLAY_JOIN_SECONDS,
                                    quiet=QuietTimes.of(clock))
            stack.callback(display.close)

        from device.core import owned
        from device.core.events import ButtonEdge, LogRead
        from device.core.goal_settings import GoalSettings
        from drivers.button import PushButton
        from drivers.motor import VibrationMotor

        recorder = choices_file = desk = safety_file = settings = None
        state_dir = parts.state_dir
        running_on = owned.at_start(config, list(routines), state_dir)
        built: list[App] = []    # the desk asks the app whether a session is on; it is built below
        goal = GoalSettings(config, None if state_dir is None else state_dir / "owner", wall_time=parts.wall_clock.time)
        if state_dir is not None:
            recorder = open_recorder(state_dir, wall_time=parts.wall_clock.time, threaded=clock.real_time,
                                     simulated=not clock.boot_time, rules=goal.rules(), quiet=QuietTimes.of(clock),
                                     on_read=partial(events.put, LogRead()),
                                     **{"device_id": parts.board_serial, **(log_options or {})})
            stack.callback(recorder.close)
            choices_file = parts.state_dir / "choices.json"
            safety_file = state_dir / SAFETY_SHOWN_FILE if safety_pages else None
            settings = owned.Settings(config, list(routines), parts.state_dir, running_on=running_on.config)
            make_desk = partial(owned.owner_desk, settings, events=events, clock=clock,
                                busy=lambda: bool(built) and built[0].state in SESSION_STATES)
            if serve_sync:
                desk = make_desk()
                serve_sync_beside_the_loop(stack, config, recorder, parts.wall_clock, events, owner=desk)
            if stick_inbox is not None:   # the firmware's own desk, beside the sync process's
                services = [*services, owned.StickInbox(stick_inbox, desk or owned.DeskOnFirstUse(make_desk),
                                                        events.put, clock=clock)]
        battery = battery_monitor(config, parts, events)
        if battery is not None:
            stack.callback(battery.close)
            services, traces = [*services, battery], [*traces, battery.trace]
        button = stack.enter_context(PushButton(
            config.button.pin, pin_factory=parts.pins, bounce_seconds=config.button.bounce_ms / 1000,
            on_edge=lambda pressed: events.put(ButtonEdge(pressed, clock.now()))))
        # Entered last so it closes first: the motor is off before anything else shuts down.
        motor = stack.enter_context(VibrationMotor(config.motor.pin, frequency=config.motor.frequency,
                                                   pin_factory=parts.pins))
        set_motor = motor.set if on_motor is None else _and_tell(motor.set, on_motor)
        notices = [*notices, running_on.notice] if running_on.notice else notices
        app = build_app(running_on.config, running_on.routines, clock=clock, set_motor=set_motor, display=display,
                        trace=_fan_out(traces), recorder=recorder, notices=notices, services=services,
                        request_power_off=request_power_off, choices_file=choices_file,
                        button_is_pressed=lambda: button.is_pressed, routine_name=routine_name,
                        goal=goal, safety_file=safety_file, display_draws=display_thread)
        app.presenter.turned = running_on.settings.turned
        app.recorder.use_time_zone(running_on.settings.time_zone)
        built.append(app)
        return RunningDevice(app, events, button, motor, display, recorder, stack.pop_all(), settings)


def show_starting(display: FrameSink) -> None:
    """Put the splash on `display`, rendered on this thread."""
    from device.screen.display import Frame
    from device.screen.screens import render
    from device.screen.views import StartingView

    display.push(Frame(render(StartingView())))


def battery_monitor(config, parts: Parts, events: queue.SimpleQueue):
    """The fuel gauge's service when `[battery]` is enabled (None otherwise); it learns what a
    session costs into the state folder's battery.json."""
    if parts.open_gauge is None:
        return None
    from device.core.battery import BatteryMonitor

    return BatteryMonitor(parts.open_gauge, parts.clock, events.put,
                          warning_percent=config.battery.warning_percent,
                          critical_percent=config.battery.critical_percent,
                          memory=parts.state_dir / "battery.json" if parts.state_dir is not None else None)


def _fan_out(traces: Sequence[Callable[..., None]]) -> Callable[..., None]:
    def trace(event: str, **fields) -> None:
        for listener in traces:
            listener(event, **fields)
    return trace


def _and_tell(set_motor: Callable[[float], None], tell: Callable[[float], None]) -> Callable[[float], None]:
    def set_and_tell(duty: float) -> None:
        set_motor(duty)
        tell(duty)
    return set_and_tell


def serve_sync_beside_the_loop(stack: ExitStack, config, recorder, wall_clock, events: queue.SimpleQueue, *,
                               owner=None) -> None:
    """The USB sync server on its own thread in this process, telling the loop its progress;
    closed with `stack`. One step on its own, so that a sync in a process of its own can take
    its place. `owner`: the desk for the person's changes (device.core.owned)."""
    from device.sync.server import SyncServer

    def tell_the_loop(status) -> None:
        event = sync_event(status)
        if event is not None:
            events.put(event)

    sync = SyncServer(config.sync.port, recorder.session_log, wall_clock=wall_clock, on_status=tell_the_loop,
                      owner=owner)
    stack.enter_context(closing(sync.start()))


def sync_event(status):
    """A SyncStatus from the sync thread, as an event for the app's loop (None: nothing to tell)."""
    from device.core.events import Notice, SyncProgress

    if status.state == "syncing":
        return SyncProgress(status.sent, status.total)
    if status.state == "synced":
        return SyncProgress(status.sent, status.sent, done=True)
    return Notice(status.text) if status.text else None


def build_app(config, routines, *, clock, set_motor: Callable[[float], None], display: FrameSink,
              trace: Callable[..., None],
              recorder=None, notices=(), routine_name: str | None = None, services=(),
              request_power_off=None, choices_file: Path | None = None,
              button_is_pressed=None, goal: GoalSettings | None = None, safety_file: Path | None = None,
              display_draws: bool = False) -> App:
    """Wire the app on parts already built (`assemble()` builds them).

    `display_draws`: the display renders the frames itself (a `DisplayWorker` with `render`):
    the app hands it what to draw, as plain data, and never renders on the loop.

    The person's last intensity and routine come from `choices_file` when there is one,
    else from the config; `routine_name` (the simulator's --routine) beats both. `goal`: the
    weekly goal's settings (a rest set on the device goes there). `safety_file`: the mark that
    the safety pages were read; while it is missing the app starts on them. `display_draws`: the
    display's own thread renders (the loop never does)."""
    from device.base.durable import write_atomically
    from device.core.app import App, Hooks, Screen, Timeouts
    from device.core.gestures import GestureRecognizer
    from device.core.goal_settings import GoalSettings
    from device.core.haptics import HapticPlayer, MotorLevels
    from device.screen.display import Drawing, Frame, FrameToDraw
    from device.screen.screens import render
    from device.settings.choices import Choices, load_choices, save_choices

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
    if goal is None:
        goal = GoalSettings(config, None, wall_time=lambda: 0.0)
    keep_choices = None
    if choices_file is not None:
        choices = load_choices(choices_file, choices)
        keep_choices = partial(save_choices, choices_file)
    timeouts = config.timeouts
    if recorder is not None:
        services = [*services, recorder]   # it retries writes the card refused, on the loop's clock
    def set_rest(days: int) -> None:
        rules = goal.set_rest(days)
        if recorder is not None:
            recorder.set_rules(rules)

    def safety_shown() -> None:
        try:
            write_atomically(safety_file, b"shown\n")
        except OSError as error:   # shown again at the next start: better than never
            logging.getLogger("facepace").warning("cannot mark the safety pages read: %s", error)

    show_safety = safety_file is not None and not safety_file.exists()
    return App(
        routines, Choices(choices.intensity, routine_name or choices.routine, choices.overridden),
        clock=clock, haptics=haptics, gestures=gestures,
        screen=(Screen(display, render=Drawing, make_frame=FrameToDraw) if display_draws
                else Screen(display, render=render, make_frame=Frame)),
        hooks=Hooks(trace=trace, keep_choices=keep_choices, request_power_off=request_power_off,
                    button_is_pressed=button_is_pressed, services=services, set_rest=set_rest,
                    safety_shown=safety_shown if show_safety else None),
        recorder=recorder, notices=notices, goal=goal.goal, show_safety=show_safety,
        timeouts=Timeouts(timeouts.dim_after, timeouts.off_after,
                          timeouts.summary_return, timeouts.pause_limit),
    )


def open_recorder(state_dir, *, wall_time: Callable[[], float], threaded: bool, simulated: bool = False,
                  rules=None, quiet: QuietTimes = NEVER, on_read: Callable[[], None] | None = None,
                  **log_options):
    """The session log in `state_dir` (created if needed), wrapped for the app. With `threaded`,
    the file is opened (its health check: most of a second on a Pi's quota) on the recorder's
    worker, its first job, once the loop serves; the sync reads the file as it is meanwhile, and its
    writes take the log's lock and open the file themselves. `on_read()`: see SessionRecorder.

    A simulated run's monotonic times are its own clock's, not this boot's: it gets a boot id
    of its own, so the sync's date fixes never take them for this boot's. `log_options` go to
    `SessionLog.open` (a simulated year passes its own `clock_synced` and `connect`). `quiet`: the
    loop's quiet times, which the log's reads step aside for (device.base.quiet)."""
    from device.settings.paths import runtime_dir
    from device.log.recording import SessionRecorder
    from device.log.sessionlog import BOOT_ID_PATH, SessionLog

    state_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as scratch:
        boot_id_path = BOOT_ID_PATH
        if simulated:   # tempfile and uuid only here: the device's own start does without them
            import tempfile
            import uuid

            # Not the state folder: it may be read-only.
            folder = scratch.enter_context(tempfile.TemporaryDirectory())
            boot_id_path = Path(folder) / "boot_id"
            boot_id_path.write_text(f"simulated-{uuid.uuid4()}\n")
        # A stop that cannot write the log keeps its sessions in the runtime folder if the
        # state folder will not take them either (a full card): RAM, but better than nothing.
        session_log = SessionLog.open(state_dir / "sessions.db", wall_time=wall_time,
                                      boot_id_path=boot_id_path, pending_dirs=[runtime_dir()],
                                      quiet=quiet, deferred=True, **log_options)

    def open_log() -> None:
        session_log.finish_opening()
        if session_log.device_id:
            write_device_id(state_dir / "device-id", session_log.device_id)

    options = {} if rules is None else {"rules": rules}
    return SessionRecorder(session_log, wall_time=wall_time, threaded=threaded, quiet=quiet, open_log=open_log,
                           on_read=on_read, **options)


def write_device_id(path: Path, device_id: str) -> None:
    """The USB gadget script names the device by this file (its USB serial number)."""
    from device.base.durable import write_atomically

    try:
        if path.exists() and path.read_text().strip() == device_id:
            return
        write_atomically(path, (device_id + "\n").encode())
    except OSError as error:   # not fatal: the gadget falls back to the Pi's serial number
        logging.getLogger("facepace").warning("cannot write %s: %s", path, error)
