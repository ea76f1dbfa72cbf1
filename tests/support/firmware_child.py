"""Runs the real firmware (`device.service.firmware.serve`) on simulated parts: gpiozero's mock
pins and the fake I2C panel under the real driver, on the real clock and the real state folder.

Started by tests/device/service/test_firmware.py and the SIGTERM benchmark in a child process, so
that SIGTERM, $NOTIFY_SOCKET and the exit code are real. Misbehaviour is planted as services the
firmware's own loop runs (no function of ours is patched):
FACEPACE_TEST_PRESS_AT=S presses the button S seconds after the main loop first runs (starts a
session), from the loop itself;
FACEPACE_TEST_HANG_AFTER=S makes the main loop hang S seconds after it first runs (a deliberate
bug), saying so first with STATUS=HANG_STATUS on $NOTIFY_SOCKET from the loop itself, so the test
knows that every WATCHDOG=1 the loop sent is already queued before that message;
FACEPACE_TEST_CRASH_IN_SESSION=1 makes the main loop raise once a session has started (another bug);
FACEPACE_TEST_ANSWER=press|hold answers each question the screen asks (a change from the computer)
with a press or a hold of the button, once the question ignores presses no longer.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from device.core.app import READ_FIRST_SECONDS
from device.core.clock import MonotonicClock
from device.core.parts import simulated_parts
from device.service import firmware
from device.service.sdnotify import Notifier
from device.settings.config import Config
from device.settings.paths import state_dir
from device.core.assemble import SAFETY_SHOWN_FILE
from device.settings.routines import load_library

HANG_STATUS = "test: the main loop hangs now"
TAP_SECONDS = 0.1   # how long the planted finger keeps the button down


class Finger:
    """Presses the button (its mock pin) `delay` seconds after the loop's first pass, from the loop."""

    def __init__(self, pins, number: int, delay: float) -> None:
        self._pins = pins
        self._number = number
        self._delay = delay
        self._next: float | None = None
        self._moves = ["down", "up"]

    def next_deadline(self) -> float | None:
        return self._next

    def poll(self, now: float) -> None:
        if self._next is None:
            if self._moves:
                self._next = now + self._delay   # the loop runs: a press is not lost now
            return
        if now >= self._next:
            pin = self._pins.pin(self._number)   # the button's own: the factory keeps one per pin
            if self._moves.pop(0) == "down":
                pin.drive_low()
                self._next = now + TAP_SECONDS
            else:
                pin.drive_high()
                self._next = None


class Answerer:
    """Answers each question the app traces with a press or a hold of the button, from the loop."""

    def __init__(self, pins, number: int, how: str, hold_seconds: float) -> None:
        self._pins = pins
        self._number = number
        self._down_for = TAP_SECONDS if how == "press" else hold_seconds + 0.5
        self._next: float | None = None
        self._moves: list[str] = []

    def trace(self, event: str, **fields) -> None:
        if event == "question":
            self._next = fields["at"] + READ_FIRST_SECONDS + 0.2   # past the time to read it
            self._moves = ["down", "up"]

    def next_deadline(self) -> float | None:
        return self._next

    def poll(self, now: float) -> None:
        if self._next is None or now < self._next:
            return
        pin = self._pins.pin(self._number)
        if self._moves.pop(0) == "down":
            pin.drive_low()
            self._next = now + self._down_for
        else:
            pin.drive_high()
            self._next = None


class Hang:
    """Hangs the loop at its first pass `after` seconds after its first one, saying so first."""

    def __init__(self, after: float) -> None:
        self._after = after
        self._at: float | None = None

    def next_deadline(self) -> float | None:
        return self._at

    def poll(self, now: float) -> None:
        if self._at is None:
            self._at = now + self._after
        elif now >= self._at:
            Notifier(os.environ.get("NOTIFY_SOCKET")).status(HANG_STATUS)
            threading.Event().wait()


class CrashInSession:
    """Raises on the loop's first pass after the app traced a session's start."""

    def __init__(self) -> None:
        self._in_session = False

    def trace(self, event: str, **fields) -> None:
        self._in_session = self._in_session or event == "session_start"

    def next_deadline(self) -> None:
        return None

    def poll(self, now: float) -> None:
        if self._in_session:
            raise RuntimeError("deliberate bug for the test")


def main() -> int:
    # As `facepace run` logs and turns a crash into exit code 1 (device/cli/main.py).
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config, routines = Config(), list(load_library(None).routines)
    parts = simulated_parts(config, MonotonicClock(), state_dir=state_dir())
    # A device used before: the first run's safety pages would take the test's press.
    state_dir().mkdir(parents=True, exist_ok=True)
    (state_dir() / SAFETY_SHOWN_FILE).write_text("shown\n")
    services, traces = [], []
    if os.environ.get("FACEPACE_TEST_PRESS_AT"):
        services.append(Finger(parts.pins, config.button.pin, float(os.environ["FACEPACE_TEST_PRESS_AT"])))
    if os.environ.get("FACEPACE_TEST_HANG_AFTER"):
        services.append(Hang(float(os.environ["FACEPACE_TEST_HANG_AFTER"])))
    if os.environ.get("FACEPACE_TEST_ANSWER"):
        answerer = Answerer(parts.pins, config.button.pin, os.environ["FACEPACE_TEST_ANSWER"],
                            config.button.hold_seconds)
        services.append(answerer)
        traces.append(answerer.trace)
    if os.environ.get("FACEPACE_TEST_CRASH_IN_SESSION"):
        crash = CrashInSession()
        services.append(crash)
        traces.append(crash.trace)
    try:
        return firmware.serve(config, routines, [], parts=parts, services=services, traces=traces)
    except Exception:
        logging.getLogger("facepace").exception("crashed")
        # What the motor's pin went through, for the test: on in the session, off once serve() unwound.
        duties = [float(value) for _, value in parts.pins.pin(config.motor.pin).timeline()]
        print(f"motor duties: {duties}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
