"""`facepace sim`: headless with a script, or interactive in the terminal (argument parsing
lives in device.cli.main). Here, above both, so the simulator never imports its own screen."""

from __future__ import annotations

import sys
from pathlib import Path

from device.sim.simulator import Simulator, parse_script, parse_speed


def main(args, config, routines, notices, state_dir: Path) -> int:
    script = parse_script(args.script) if args.script else []
    speed = parse_speed(args.speed) if args.speed else (None if args.headless else 1.0)
    where = f"facepace sim: simulated sessions are kept in {state_dir}, apart from your own log"
    if args.headless:
        if not script:
            script = [(1.0, "press")]
        sim = Simulator(config, routines, speed=speed, routine_name=args.routine_name,
                        frames_dir=args.frames, trace_path=args.trace, state_dir=state_dir,
                        notices=notices)
        try:
            code = sim.run_headless(script)
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
                            notices=notices, script=script)
    finally:
        print(where, file=sys.stderr)   # after the terminal is restored, where it stays readable
