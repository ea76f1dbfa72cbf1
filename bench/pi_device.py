"""The device side of the Pi-budget bench (bench/pi_budget.py), in the process the quota holds.

    python -m bench.pi_device firmware --presses N [--first-press ready|loop] [--count-channel]
                                       [--first-frame-file FILE]
        the real firmware (`device.service.firmware.serve` on `simulated_parts`: mock pins, the
        fake panel, the real log in $FACEPACE_STATE_DIR; the sync is `facepace sync-serve`, a
        process of its own that the bench starts beside it). A finger presses the
        button N times, the first as soon as the device is ready (its first frame is on the panel:
        the first moment a person sees it on; or, with `loop`, on the main loop's first pass, while
        the first frame is still being made), and prints one JSON line: each press's latency to
        the motor's click, in ms. Then it waits for SIGTERM.
    python -m bench.pi_device pacing --routine FILE --trace FILE [--press-after S] [--count-channel]
        the same firmware with only that routine, pressed S seconds (3) after its loop first runs:
        once the idle screen is up, the log read, as a person who looks first (0.2: at once,
        while the log is opened and read on its worker); every
        traced event (the simulator's trace format, on the firmware's clock) goes to FILE; it
        stops when the session's summary shows. What the Pi runs, display thread and all (the
        simulator renders on its loop). The bench runs `sync-serve` on the same log beside it
        for the figure with a sync.

With `--count-channel` the JSON line also gives `channel_messages`: the messages from the sync
process the firmware's end of the channel (`SyncLink`) handled, each a wake-up of the firmware
(the bench's flood rows: what a hostile computer makes `sync-serve` tell the firmware).

Only what the device itself would import is imported before the device starts: the start-up
measured is the device's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

CLICK_WAIT_SECONDS = 2.0     # a click later than this is reported as this
BETWEEN_PRESSES = 0.45       # past the double-press window, so each press stands alone
# After the first press, the rest wait until the log's worker has opened and read the log (on the
# quota, with 10k sessions, within ~2 s of READY; its integrity check, one SQLite step, holds the
# quota's CPU for ~0.4 s): the series measures clicks in use; the first press, the start.
SETTLED_AFTER = 3.0
POLL_SECONDS = 0.02          # only notices the click: its instant comes from the pin's history


def used_before() -> None:
    """A device used before: the first run's safety pages would take the bench's presses."""
    from device.core.assemble import SAFETY_SHOWN_FILE
    from device.settings.paths import state_dir

    state_dir().mkdir(parents=True, exist_ok=True)
    (state_dir() / SAFETY_SHOWN_FILE).write_text("shown\n")


def count_channel_messages() -> list[int]:
    """[messages the firmware's SyncLink has handled so far], kept up to date."""
    from device.service.sync_link import SyncLink

    counted, handle = [0], SyncLink.handle

    def counting(self, messages) -> None:
        counted[0] += len(messages)
        handle(self, messages)
    SyncLink.handle = counting
    return counted


def firmware(presses: int, first_press: str = "ready", count_channel: bool = False,
             first_frame_file: str | None = None) -> int:
    from device.core.clock import MonotonicClock
    from device.core.parts import simulated_parts
    from device.service import firmware as service
    from device.service.sdnotify import Notifier
    from device.settings.config import Config
    from device.settings.paths import state_dir
    from device.settings.routines import load_library

    config, routines = Config(), list(load_library(None).routines)
    parts = simulated_parts(config, MonotonicClock(), state_dir=state_dir())
    if first_frame_file:
        opener = parts.open_panel
        parts = dataclasses.replace(parts, open_panel=lambda: FirstFrameMark(opener(), Path(first_frame_file)))
    used_before()
    channel = count_channel_messages() if count_channel else None
    services = []
    if presses:
        ready = threading.Event()
        if first_press == "loop":
            services.append(FirstPass(ready))
        else:
            send_ready = Notifier.ready

            def ready_and_tell(notifier) -> None:
                send_ready(notifier)
                ready.set()
            Notifier.ready = ready_and_tell
        threading.Thread(target=finger, args=(ready, presses, parts.pins, config, channel), daemon=True).start()
    else:
        print(json.dumps({"presses_ms": []}), flush=True)
    return service.serve(config, routines, [], parts=parts, services=services)


class FirstFrameMark:
    """The panel, writing `time.monotonic()` to `path` when its first image is on the glass (the
    benchmark's process reads the same clock): the moment a person sees the device on."""

    def __init__(self, panel, path: Path) -> None:
        self._panel, self._path = panel, path

    def show(self, image) -> None:
        self._panel.show(image)
        if not self._path.exists():
            self._path.write_text(repr(time.monotonic()))

    def contrast(self, value: int) -> None:
        self._panel.contrast(value)

    def poweroff(self) -> None:
        self._panel.poweroff()

    def poweron(self) -> None:
        self._panel.poweron()

    def close(self) -> None:
        self._panel.close()


class FirstPass:
    """A loop service that tells the finger the main loop runs (its first pass: no frame yet)."""

    def __init__(self, ready: threading.Event) -> None:
        self._ready = ready

    def next_deadline(self) -> None:
        return None

    def poll(self, now: float) -> None:
        self._ready.set()


def finger(ready: threading.Event, presses: int, pins, config, channel: list[int] | None = None) -> None:
    """Press `presses` times; print each press's latency to the click (motor pin on), in ms (and the
    channel's messages so far, if counted)."""
    ready.wait()
    button = pins.pin(config.button.pin)
    motor = pins.pin(config.motor.pin)
    clock = pins.ticks
    latencies = []
    for number in range(presses):
        if number:
            time.sleep(BETWEEN_PRESSES + (SETTLED_AFTER if number == 1 else 0.0))
            while motor.state:          # a cue is buzzing: a click now would not be an edge
                time.sleep(POLL_SECONDS)
        seen = len(motor.states)
        pressed_at = clock()
        button.drive_low()
        while clock() - pressed_at < CLICK_WAIT_SECONDS:
            on = [at for at, value in motor.timeline()[seen:] if value]
            if on:
                latencies.append((on[0] - pressed_at) * 1000)
                break
            time.sleep(POLL_SECONDS)
        else:
            latencies.append(CLICK_WAIT_SECONDS * 1000)
        time.sleep(0.05)
        button.drive_high()
    counted = {} if channel is None else {"channel_messages": channel[0]}
    print(json.dumps({"presses_ms": latencies, **counted}), flush=True)


def pacing(routine_file: str, trace_file: str, count_channel: bool = False, press_after: float = 3.0) -> int:
    import os
    import signal
    from pathlib import Path

    from device.core.clock import MonotonicClock
    from device.core.parts import simulated_parts
    from device.service import firmware as service
    from device.settings.config import Config
    from device.settings.paths import state_dir
    from device.settings.routines import load_routine
    from tests.support.firmware_child import Finger

    config, routine = Config(), load_routine(Path(routine_file))
    parts = simulated_parts(config, MonotonicClock(), state_dir=state_dir())
    used_before()
    channel = count_channel_messages() if count_channel else None
    stream = open(trace_file, "w", encoding="utf-8")

    def trace(event: str, *, at: float | None = None, **fields) -> None:
        # The simulator's trace format (device.sim.trace), on the firmware's own clock.
        stream.write(json.dumps({"t": parts.clock.now() if at is None else at, "event": event, **fields}) + "\n")
        if event == "summary":   # the session is over: stop as systemd would
            stream.flush()
            os.kill(os.getpid(), signal.SIGTERM)

    print("ready", flush=True)
    try:
        return service.serve(config, [routine], [], parts=parts, traces=[trace],
                             services=[Finger(parts.pins, config.button.pin, press_after)])
    finally:
        stream.close()
        if channel is not None:
            print(json.dumps({"channel_messages": channel[0]}), flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pi_device")
    roles = parser.add_subparsers(dest="role", required=True)
    run = roles.add_parser("firmware")
    run.add_argument("--presses", type=int, default=0)
    run.add_argument("--first-press", choices=("ready", "loop"), default="ready")
    run.add_argument("--first-frame-file")
    sim = roles.add_parser("pacing")
    sim.add_argument("--routine", required=True)
    sim.add_argument("--trace", required=True)
    sim.add_argument("--press-after", type=float, default=3.0)
    for role in (run, sim):
        role.add_argument("--count-channel", action="store_true")
    args = parser.parse_args(argv)
    if args.role == "firmware":
        return firmware(args.presses, args.first_press, args.count_channel, args.first_frame_file)
    return pacing(args.routine, args.trace, args.count_channel, args.press_after)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
