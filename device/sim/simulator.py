"""`facepace sim`: the same application on simulated parts.

The button and motor are gpiozero devices on gpiozero's MockFactory (told the
time by the simulator's clock); the OLED is the real adafruit driver on a fake
I2C bus that decodes what the panel would show. Only the pins and the bus are fake.

Simulated time starts at 0 when the device is ready (built, its splash on the panel, the
app's first frame next), so `--script 1:press` presses one simulated second after that, at any speed.
A scripted edge carries its scripted instant (the clock's time never passes a
timer that has not run), so a busy machine delays a press but never changes it.

When time runs (a speed, not 'max') the simulator serves the sync protocol on the port
its config names, as the firmware does, so `facepace sync` and `facepace routines push`
can talk to it over a pty pair; the acceptance screen is answered by a key, or by
`--answer press|hold` (a scripted finger, ANSWER_AFTER simulated seconds after it shows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from device.core.assemble import assemble
from device.core.clock import ScaledClock, VirtualClock
from device.core.state import State
from device.core.parts import simulated_parts
from device.base.errors import UsageError
from device.sim.trace import Trace

GESTURES = ("press", "double", "hold")
ANSWER_AFTER = 2.0      # simulated seconds a scripted finger takes to answer a question (reading it)
TAP_SECONDS = 0.12      # how long a scripted finger stays down for a press
TAP_GAP_SECONDS = 0.1   # between the two presses of a double


def parse_script(text: str) -> list[tuple[float, str]]:
    """"1:press,40:double,95:hold" → [(1.0, "press"), ...], sorted by time."""
    steps = []
    for position, item in enumerate(filter(None, (part.strip() for part in text.split(","))), 1):
        at, sep, gesture = item.partition(":")
        try:
            seconds = float(at)
        except ValueError:
            seconds = math.nan
        if not sep or not math.isfinite(seconds) or seconds < 0 or gesture not in GESTURES:
            raise UsageError(
                f"--script item {position} {item!r}: expected SECONDS:GESTURE with GESTURE one of "
                f"{', '.join(GESTURES)}, e.g. 1:press,40:double,95:hold")
        steps.append((seconds, gesture))
    return sorted(steps)


def finger_downs(at: float, gesture: str, *, hold_seconds: float) -> list[tuple[float, float]]:
    """When a finger playing `gesture` from `at` puts the button down and lets it up."""
    if gesture == "press":
        return [(at, at + TAP_SECONDS)]
    if gesture == "double":
        second = at + TAP_SECONDS + TAP_GAP_SECONDS
        return [(at, at + TAP_SECONDS), (second, second + TAP_SECONDS)]
    return [(at, at + hold_seconds + 0.2)]


def parse_speed(text: str) -> float | None:
    """A positive number, or "max" (virtual time: as fast as the machine goes)."""
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0):
        raise UsageError(f"--speed must be a positive number or 'max', got {text!r}")
    return speed


@dataclass
class Simulator:
    """Simulated parts plus the app; `run_headless()` or the terminal UI drive it."""

    config: object
    routines: list
    speed: float | None = None            # None: virtual time
    routine_name: str | None = None
    frames_dir: Path | None = None
    trace_path: Path | None = None
    state_dir: Path | None = None         # where the session log goes; None: not kept
    notices: list = field(default_factory=list)
    on_frame: object = None               # on_frame(glass image, bus) for each frame sent (terminal UI)
    on_motor: object = None               # on_motor(duty) for each duty the motor is given
    on_sent: object = None                # on_sent(frame) for each frame that reached the panel
    serve_sync: bool = False              # serve the sync port of the config (needs state_dir, real time)
    answer: str | None = None             # a scripted finger answers each question: press or hold
    battery: tuple[float, float] | None = None   # a simulated cell: (start %, % drained per minute)

    def __post_init__(self) -> None:
        self.clock = VirtualClock() if self.speed is None else ScaledClock(self.speed)
        self.gauge = None
        if self.battery is not None:
            from drivers.fakes.max17048 import FakeMAX17048

            start, per_minute = self.battery
            self.config = replace(self.config, battery=replace(self.config.battery, enabled=True))
            self.gauge = FakeMAX17048(self.clock, percent=start, percent_per_hour=-60 * per_minute,
                                      address=self.config.battery.address)
        self.parts = simulated_parts(self.config, self.clock, state_dir=self.state_dir, gauge=self.gauge)
        self.bus = self.parts.bus
        self.trace = Trace.to_file(self.clock, self.trace_path) if self.trace_path else None
        self.frames_sent = 0
        if self.frames_dir:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
        # Sessions are dated by the wall clock when they ran, never in the future; their lengths
        # (active seconds, zones) are simulated time.
        if self.serve_sync and self.speed is None:
            raise UsageError("the simulator serves the sync port only when time runs: give --speed a number")
        traces = [self.trace] if self.trace else []
        if self.answer in ("press", "hold"):
            traces.append(self._answer_questions)
        self.device = assemble(self.config, self.routines, self.parts, traces=traces, serve_sync=self.serve_sync,
                               notices=self.notices, routine_name=self.routine_name,
                               on_frame_sent=self._frame_sent,
                               on_motor=self.on_motor)
        self.clock.start()   # the device is ready: simulated time starts
        self.app, self.events = self.device.app, self.device.events
        self.button, self.motor, self.recorder = self.device.button, self.device.motor, self.device.recorder
        self._scripted_left = 0

    # -- the finger ------------------------------------------------------------------

    def schedule(self, at: float, gesture: str) -> None:
        """Press the (mock) button pin at `at` simulated seconds as `gesture` needs."""
        pin = self.button.pin
        downs = finger_downs(at, gesture, hold_seconds=self.config.button.hold_seconds)
        self._scripted_left += 1
        for number, (down, up) in enumerate(downs):
            self.clock.call_at(down, pin.drive_low)
            last = number == len(downs) - 1
            self.clock.call_at(up, self._release_and_count if last else pin.drive_high)

    def _answer_questions(self, event: str, **fields) -> None:
        if event == "question":
            self.schedule(fields["at"] + ANSWER_AFTER, self.answer)

    def _release_and_count(self) -> None:
        self.button.pin.drive_high()
        self._scripted_left -= 1

    # -- running -----------------------------------------------------------------------

    def finished(self) -> bool:
        """Headless: done once the script has played and no session is under way."""
        app = self.app
        # The count first: the last release is queued before the count drops, so an edge the
        # loop has not handled yet is seen either way.
        if self._scripted_left or not self.events.empty():
            return False
        if app.gestures.next_deadline() is not None or app.haptics.busy:
            return False
        return app.state not in (State.RUNNING, State.PAUSED)

    def run_headless(self, script: list[tuple[float, str]], *, stay: bool = False) -> int:
        """Play `script`; 0 if a session ended and its summary was shown (the app traces
        "summary") since the last session began, else 1. `stay`: go on (serving the sync
        port) until stopped, then 0."""
        summaries = []

        def follow(event: str, **fields) -> None:
            if event == "session_start":
                summaries.clear()
            elif event == "summary":
                summaries.append(fields)

        for at, gesture in script:
            self.schedule(at, gesture)
        with self.app.watching(follow):
            self.app.run(self.events, until=None if stay else self.finished)
        return 0 if summaries or stay else 1

    def stop(self) -> None:
        from device.core.events import Stop

        self.events.put(Stop("simulator closed"))

    def close(self) -> None:
        self.clock.close()   # first: no scripted finger moves while the parts close
        self.device.close()
        if self.trace:
            self.trace.close()

    def _frame_sent(self, frame) -> None:
        self.frames_sent += 1
        if self.trace:
            self.trace("frame", number=self.frames_sent, brightness=frame.brightness)
        if self.frames_dir:
            frame.image.save(self.frames_dir / f"{self.frames_sent:06d}.png")
        if self.on_sent:
            self.on_sent(frame)
        if self.on_frame:
            self.on_frame(self.bus.image(), self.bus)


def gestures_from(lines, sim: Simulator) -> None:
    """`press`, `double` or `hold` on a line of its own: the finger plays it now (a program
    driving the simulator answers its questions this way)."""
    for line in lines:
        if line.strip() in GESTURES:
            sim.schedule(sim.clock.now(), line.strip())


def default_state_dir() -> Path:
    """Where simulated sessions go without `--state`: a folder of their own beside the real
    log, so `facepace log` never lists them as sessions a person did."""
    from device.settings.paths import state_dir

    return state_dir() / "sim"


def parse_battery(text: str) -> tuple[float, float]:
    """`--battery START:PER_MINUTE`, e.g. 100:5: a cell at 100 % losing 5 % a minute."""
    start, _, per_minute = text.partition(":")
    try:
        cell = float(start), float(per_minute or 0)
    except ValueError:
        cell = None
    if cell is None or not 0 <= cell[0] <= 100 or not 0 <= cell[1] <= 100:
        raise UsageError(f"--battery must be START:PER_MINUTE in percent (0..100 each), e.g. 100:5, got {text!r}")
    return cell
