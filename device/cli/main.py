"""facepace: a one-button facial-massage device on a Raspberry Pi, and its companion tools.

The device walks you through a massage routine zone by zone, pacing your strokes with a
vibration motor and a small screen, and logs every session. Commands:

  on the device      run, selftest, sync-serve, export
  anywhere           sim (the device in a terminal), routines, config, log, stats
  on your computer   sync (over USB), history, report, app (a page in your browser)

`--config FILE` and `-v` may come before or after the command. Exit codes: 0 done, 1 failed,
2 usage error, 78 bad config file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from device import __version__
from device.settings import paths
from device.base.errors import ConfigError, FacepaceError, UsageError

EXIT_CONFIG = 78   # EX_CONFIG: systemd's RestartPreventExitStatus stops a restart loop on a bad config
EXIT_USAGE = 2     # argparse's own, for a command line it cannot use
# Defined here: their start-up (a Pi's boot, the first frame) must not wait for the other commands' imports.
BUILT_IN_COMMANDS = ("run", "sim", "selftest")


def add_global_options(parser: argparse.ArgumentParser, *, after_command: bool = False) -> None:
    """`--config` and `-v`, before the command or after it. After it they default to
    SUPPRESS, so an option given only before the command is not reset; given in both
    places, the later one wins."""
    options = parser.add_argument_group("global options")
    options.add_argument("--config", type=Path, metavar="FILE",
                         default=argparse.SUPPRESS if after_command else None,
                         help=f"config file for run, sim, routines, config and sync-serve "
                              f"(default: {paths.DEVICE_CONFIG} if it exists, else the built-in defaults)")
    options.add_argument("-v", "--verbose", action="store_true",
                         default=argparse.SUPPRESS if after_command else False, help="log every event")


class CommandParser(argparse.ArgumentParser):
    """A command's parser: it takes the global options too (its own subcommands inherit this)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        add_global_options(self, after_command=True)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; for `run` and `sim` (as `argv` says) without the command modules."""
    parser = argparse.ArgumentParser(prog="facepace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"facepace {__version__}")
    add_global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=CommandParser)

    run = commands.add_parser(
        "run", help="run the firmware on a Raspberry Pi",
        description="Run the device: button, motor and screen on the Pi's GPIO and I2C, the "
                    "session log in the state folder, and the USB sync's progress on the screen (the "
                    "sync itself is `sync-serve`, its own process). systemd starts this (facepace.service).")
    run.set_defaults(func=_run)

    selftest = commands.add_parser(
        "selftest", help="check the wiring: I2C scan, panel patterns, motor levels, button, battery",
        description="Walk through the parts: each step passes or fails with its reason, here and on "
                    "the panel; exit code 0 when all passed. On the Pi, stop facepace.service first "
                    "(sudo systemctl stop facepace): it holds the pins.")
    selftest.add_argument("--sim", action="store_true", help="on simulated parts (a finger presses for you)")
    selftest.add_argument("--press-timeout", type=float, default=10.0, metavar="S",
                          help="how long to wait for the button press (default 10 s)")
    selftest.set_defaults(func=_selftest)

    sim = commands.add_parser("sim", help="run the firmware on simulated parts", description=(
        "The device in your terminal: the same firmware on simulated button, motor and screen "
        "(keys: space press, d double press, h hold, q quit), or --headless with a script."))
    sim.add_argument("--headless", action="store_true", help="no terminal UI: play the script and exit")
    sim.add_argument("--routine", dest="routine_name", metavar="NAME|FILE",
                     help="routine to select (a name or a .toml file)")
    sim.add_argument("--speed", metavar="X", help="time runs X times faster, or 'max' (virtual time)")
    sim.add_argument("--script", metavar="T:GESTURE,...",
                     help="gestures at simulated seconds, e.g. 1:press,40:double,95:hold")
    sim.add_argument("--frames", type=Path, metavar="DIR", help="save every frame sent to the display")
    sim.add_argument("--trace", type=Path, metavar="FILE", help="write events as JSON lines")
    sim.add_argument("--state", type=Path, metavar="DIR",
                     help="keep simulated sessions here (default: a 'sim' folder beside your own log)")
    sim.add_argument("--stay", action="store_true",
                     help="with --headless: keep running after the script, serving the sync port of the "
                          "config and playing gestures read from stdin (press, double, hold: one a line), "
                          "until stopped (SIGTERM, Ctrl-C)")
    sim.add_argument("--answer", choices=("press", "hold", "none"),
                     help="a scripted finger answers each change from the computer: press accepts, hold "
                          "refuses, none lets it time out")
    sim.add_argument("--battery", metavar="START:PER_MINUTE",
                     help="simulate a fuel gauge on a draining cell, e.g. 100:5 (100 %%, 5 %% a minute)")
    sim.set_defaults(func=_sim)

    if command_named(sys.argv[1:] if argv is None else argv) not in BUILT_IN_COMMANDS:
        for group in _command_groups():
            group.register(commands)
    return parser


def command_named(argv: list[str]) -> str | None:
    """The command word in `argv`: the first argument that is neither an option nor `--config`'s value."""
    after_config = False
    for arg in argv:
        if after_config:
            after_config = False
        elif arg == "--config":
            after_config = True
        elif not arg.startswith("-"):
            return arg
    return None


def _command_groups() -> list:
    """The command groups in their own modules. The computer's commands (sync, history,
    report, routines/settings pushed to the device, and the companion page) are
    `companion.commands`, `companion.owner_commands` and `companion.app.command`: they ship
    in the same package, but `device` imports nothing from `companion` (the Pi never needs the computer's code; tests/test_architecture.py
    reads the imports), so they are named here, the only modules the device loads by name."""
    from device.cli import config, log, routines, serve

    return [routines, config, log, serve] + [importlib.import_module(name) for name in (
        "companion.commands", "companion.owner_commands", "companion.app.command")]


def load_settings(args):
    """Config and routines for the app: (config, routines, notices for the screen)."""
    from device.settings.config import load_checked_config
    from device.settings.paths import config_in_use, routines_dir
    from device.settings.routines import load_library, skipped_notice

    config_path = config_in_use(args.config)
    config = load_checked_config(config_path)
    library = load_library(routines_dir(config_path))
    notices = []
    for error in library.errors:
        for problem in error.problems:
            logging.getLogger("facepace").warning("skipped routine: %s", problem)
        notices.append(skipped_notice(error))
    return config, config_path, list(library.routines), notices


def select_routine(routines: list, wanted: str | None, user_dir) -> str | None:
    """`--routine NAME|FILE`: put that routine in the list (a file replaces its namesake); returns its name."""
    from device.settings.routines import find_routine

    if wanted is None:
        return None
    routine = find_routine(wanted, user_dir)
    position = next((i for i, known in enumerate(routines) if known.name == routine.name), len(routines))
    routines[position:position + 1] = [routine]
    return routine.name


def _sim(args) -> int:
    from device.cli import sim
    from device.sim.simulator import default_state_dir

    logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    from device.settings.paths import routines_dir

    config, config_path, routines, notices = load_settings(args)
    args.routine_name = select_routine(routines, args.routine_name, routines_dir(config_path))
    return sim.main(args, config, routines, notices, state_dir=args.state or default_state_dir())


def _run(args) -> int:
    from device.service import firmware

    config, _, routines, notices = load_settings(args)
    return firmware.main(config, routines, notices)


def _selftest(args) -> int:
    from device.service import selftest

    config, _, _, _ = load_settings(args)
    return selftest.main(config, simulated=args.sim, press_timeout=args.press_timeout)


def exit_code(error: FacepaceError) -> int:
    if isinstance(error, ConfigError):
        return EXIT_CONFIG
    if isinstance(error, UsageError):
        return EXIT_USAGE
    return 1


def report(error: FacepaceError, command: str) -> None:
    """Every problem on its own line. One in a file reads FILE:LINE: what, as a compiler says
    it (and as `config check` and `routines check` list them); any other starts `facepace:`
    (`facepace COMMAND:` for a usage error, as argparse says it)."""
    name = f"facepace {command}" if isinstance(error, UsageError) else "facepace"
    for problem in error.problems:
        print(problem if problem.file is not None else f"{name}: {problem.what}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """The one place that turns errors into messages and exit codes."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser(argv).parse_args(argv)
    except SystemExit as stop:   # --help, --version (0), or a usage error argparse has explained
        return EXIT_USAGE if stop.code not in (0, None) else 0
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    try:
        return args.func(args)
    except FacepaceError as error:
        report(error, args.command)
        return exit_code(error)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:   # `facepace log | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception:
        # A bug: log it with its traceback (the journal on the device); exiting non-zero gets the
        # service restarted, and the next start recovers the session as interrupted.
        logging.getLogger("facepace").exception("crashed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
