"""The device side of the Pi-budget bench (bench/pi_budget.py), in the process the quota holds.

    python -m bench.pi_device firmware --presses N [--first-press ready|loop] [--config FILE]
        the real `facepace run` (tests/support/firmware_child.py: mock pins, fake panel, the real
        log in $FACEPACE_STATE_DIR, the sync server on the config's port). A finger presses the
        button N times, the first as soon as the device is ready (its first frame is on the panel:
        the first moment a person sees it on; or, with `loop`, on the main loop's first pass, while
        the first frame is still being made), and prints one JSON line: each press's latency to
        the motor's click, in ms. Then it waits for SIGTERM.
    python -m bench.pi_device pacing --routine FILE --trace FILE --state DIR [--sync-port PORT]
        the simulator at speed 1 (real time) playing the routine, with a sync server next to the
        loop as the firmware has it; prints "ready" when it serves, exits when the routine ends.

Only what the device itself would import is imported before the device starts: the start-up
measured is the device's.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

CLICK_WAIT_SECONDS = 2.0     # a click later than this is reported as this
BETWEEN_PRESSES = 0.45       # past the double-press window, so each press stands alone
POLL_SECONDS = 0.02          # only notices the click: its instant comes from the pin's history


def firmware(presses: int, config: str | None, first_press: str = "ready") -> int:
    from device.cli import main as cli
    from device.service.sdnotify import Notifier
    from device.settings.config import Config
    from tests.support import firmware_child

    firmware_child.fake_hardware()
    if presses:
        ready = threading.Event()
        if first_press == "loop":
            firmware_child.misbehave(lambda app: not ready.is_set(), ready.set)
        else:
            send_ready = Notifier.ready

            def ready_and_tell(notifier) -> None:
                send_ready(notifier)
                ready.set()
            Notifier.ready = ready_and_tell
        threading.Thread(target=finger, args=(ready, presses, Config()), daemon=True).start()
    else:
        print(json.dumps({"presses_ms": []}), flush=True)
    return cli.main((["--config", config] if config else []) + ["run"])


def finger(ready: threading.Event, presses: int, config) -> None:
    """Press `presses` times; print each press's latency to the click (motor pin on), in ms."""
    from gpiozero import Device

    ready.wait()
    button = Device.pin_factory.pin(config.button.pin)
    motor = Device.pin_factory.pin(config.motor.pin)
    clock = Device.pin_factory.ticks
    latencies = []
    for number in range(presses):
        if number:
            time.sleep(BETWEEN_PRESSES)
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
    print(json.dumps({"presses_ms": latencies}), flush=True)


def pacing(routine_file: str, trace: str, state: str, sync_port: str | None) -> int:
    from pathlib import Path

    from device.settings.config import Config
    from device.settings.routines import load_routine
    from device.sim.simulator import Simulator

    routine = load_routine(Path(routine_file))
    sim = Simulator(Config(), [routine], speed=1.0, routine_name=routine.name, trace_path=Path(trace),
                    state_dir=Path(state))
    server = None
    try:
        if sync_port:
            from device.log.clockfix import HostWallClock
            from device.service.firmware import sync_event
            from device.sync.server import SyncServer

            def status(update) -> None:
                event = sync_event(update)
                if event is not None:
                    sim.events.put(event)
            # As the firmware has it: a thread next to the loop, on the same log.
            server = SyncServer(sync_port, sim.recorder.session_log, wall_clock=HostWallClock(),
                                on_status=status).start()
            server.serving.wait(30)
        print("ready", flush=True)
        return sim.run_headless([(0.2, "press")])
    finally:
        if server is not None:
            server.close()
        sim.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pi_device")
    roles = parser.add_subparsers(dest="role", required=True)
    run = roles.add_parser("firmware")
    run.add_argument("--presses", type=int, default=0)
    run.add_argument("--first-press", choices=("ready", "loop"), default="ready")
    run.add_argument("--config")
    sim = roles.add_parser("pacing")
    sim.add_argument("--routine", required=True)
    sim.add_argument("--trace", required=True)
    sim.add_argument("--state", required=True)
    sim.add_argument("--sync-port")
    args = parser.parse_args(argv)
    if args.role == "firmware":
        return firmware(args.presses, args.config, args.first_press)
    return pacing(args.routine, args.trace, args.state, args.sync_port)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
