"""`facepace sim`: headless with a script, or interactive in the terminal (argument parsing
lives in device.cli.main). Here, above both, so the simulator never imports its own screen."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from device.base.errors import UsageError
from device.sim.simulator import Simulator, gestures_from, parse_battery, parse_script, parse_speed


def main(args, config, routines, notices, state_dir: Path) -> int:
    script = parse_script(args.script) if args.script else []
    speed = parse_speed(args.speed) if args.speed else (None if args.headless and not args.stay else 1.0)
    where = f"facepace sim: simulated sessions are kept in {state_dir}, apart from your own log"
    battery = parse_battery(args.battery) if args.battery else None
    if args.stay and not args.headless:
        raise UsageError("--stay goes with --headless (the terminal simulator runs until you quit)")
    if args.headless:
        if not script and not args.stay:
            script = [(1.0, "press")]
        sim = Simulator(config, routines, speed=speed, routine_name=args.routine_name,
                        frames_dir=args.frames, trace_path=args.trace, state_dir=state_dir,
                        notices=notices, serve_sync=speed is not None, answer=args.answer, battery=battery)
        if args.stay:   # stopped by SIGTERM or Ctrl-C, cleanly; gestures from stdin, one a line
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, lambda *_: sim.stop())
            threading.Thread(target=gestures_from, args=(sys.stdin, sim), daemon=True).start()
        try:
            code = sim.run_headless(script, stay=args.stay)
        finally:
            sim.close()
        if code:
            print("facepace sim: the script ended before a session finished and showed its summary",
                  file=sys.stderr)
        print(where, file=sys.stderr)
        return code
    from device.sim.terminal import check_terminal, run_terminal   # curses: only for the terminal

    check_terminal()
    try:
        return run_terminal(config, routines, speed=speed or 1.0, routine_name=args.routine_name,
                            frames_dir=args.frames, trace_path=args.trace, state_dir=state_dir,
                            notices=notices, script=script, serve_sync=True, battery=battery)
    finally:
        print(where, file=sys.stderr)   # after the terminal is restored, where it stays readable
