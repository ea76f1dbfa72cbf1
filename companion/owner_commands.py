"""`facepace routines push|pull|remove|order` and `facepace settings show|set`: shape the
device from the computer over the USB cable (sync protocol 3, `companion.owner_client`).

Every change is checked here first (the same rules the device applies), then sent; the
device shows it and only a press on its button applies it. Each command prints what changed.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from device.log import goals
from device.base.errors import FacepaceError, Problem, RoutineError, UsageError
from device.base.output_safety import for_terminal
from device.settings.owner import PutRoutine, RemoveRoutine, SetOrder, SetSettings, check_routine
from device.settings.routines import load_routine
from device.settings.settable import BY_NAME, ROUTINE_NAME, SETTABLE
from device.settings.tomlsource import TomlReadError, did_you_mean, parse_toml, toml_repr

TIMEOUT = 5.0
SAID = {
    "asking": "Press the button on the device to accept (hold it to refuse)...",
    "busy": "The device is in a session: it will ask when the session is over...",
}


def register(subparsers) -> None:
    routines = _subcommands(subparsers.choices["routines"])
    push = routines.add_parser("push", help="send a routine to the device (accept it there)",
                               description="Check a routine file here, send it to the device, and wait "
                                           "while the person accepts it with the button.")
    push.add_argument("file", type=Path, metavar="FILE")
    push.add_argument("--name", help="its name on the device (default: the file's name without .toml)")
    pull = routines.add_parser("pull", help="print a routine the device has, as TOML",
                               description="Print a routine the device has (built-in or your own) as "
                                           "TOML, to start editing from: facepace routines pull daily > mine.toml")
    pull.add_argument("name", metavar="NAME")
    remove = routines.add_parser("remove", help="remove one of your routines from the device")
    remove.add_argument("name", metavar="NAME")
    order = routines.add_parser("order", help="which routines the double press cycles through",
                                description="Set the routines the double press cycles through, in order; "
                                            "a built-in left out is hidden, not deleted.")
    order.add_argument("names", metavar="NAME", nargs="+")
    for command, run in ((push, run_push), (pull, run_pull), (remove, run_remove), (order, run_order)):
        _link_options(command)
        command.set_defaults(func=run)

    settings = subparsers.add_parser("settings", help="show or change the device's settings over USB",
                                     description="The settings a person may change from the computer. "
                                                 "They win over /etc/facepace/config.toml on the device.")
    commands = settings.add_subparsers(dest="settings_command", required=True, metavar="COMMAND")
    show = commands.add_parser("show", help="every setting, its value and what is allowed")
    change = commands.add_parser("set", help="change settings: NAME=VALUE ... (accept them on the device)",
                                 description="NAME=VALUE ...; VALUE as in TOML (true, 90, 0.4), a time "
                                             "zone as is (Europe/Paris), routine_order as a,b,c, or "
                                             "'default' to go back to the device's own value. "
                                             "A rest: rest_until=2026-12-14 or rest_days=7 from "
                                             "today (rest_days=0 ends it).")
    change.add_argument("assignments", metavar="NAME=VALUE", nargs="+")
    for command, run in ((show, run_show), (change, run_set)):
        _link_options(command)
        command.set_defaults(func=run)


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """The subcommand list of a group another module registered (argparse keeps it private)."""
    return next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))


def _link_options(parser: argparse.ArgumentParser) -> None:
    from device.cli.serve import positive_seconds

    parser.add_argument("--port", metavar="PATH", help="serial port (default: find the facepace device)")
    parser.add_argument("--timeout", type=positive_seconds, default=TIMEOUT, metavar="SECONDS",
                        help=f"give up when the device does not answer (default {TIMEOUT:g})")


@contextmanager
def _device(args) -> Iterator:
    from companion import owner_client as owner
    from companion import sync_client as host

    port = host.open_device(args.port or host.find_port(), timeout=args.timeout)
    try:
        device = owner.connect(host.Link(port, timeout=args.timeout))
        yield device
        owner.bye(device)
    finally:
        port.close()


def _decide(device, change) -> str:
    """Stage `change`, tell the person what to do, and return the device's final state."""
    from companion import owner_client as owner

    def say(state) -> None:
        if state.state in SAID:
            print(SAID[state.state], file=sys.stderr, flush=True)

    final = owner.propose(device, change, on_state=say)
    if final.state == "rejected":
        raise RoutineError(problems=[Problem(f"the device rejected it: {for_terminal(line)}") for line in final.problems])
    if final.state == "refused":
        raise FacepaceError("refused on the device: nothing changed")
    if final.state in ("timed_out", "failed"):
        raise FacepaceError(f"{for_terminal(final.message) or final.state.replace('_', ' ')}: nothing changed")
    return final.state


def run_push(args) -> int:
    name = args.name or args.file.stem
    if not ROUTINE_NAME.fullmatch(name):
        raise UsageError(f"{name!r} cannot name a routine on the device: 1..32 lowercase letters, digits"
                         " and - (rename the file, or give --name)")
    routine = load_routine(args.file)   # FILE:LINE problems, as `routines check` prints them
    data = args.file.read_bytes()
    check_routine(name, data)           # the device's own limits (16 KiB)
    with _device(args) as device:
        state = _decide(device, PutRoutine(name, data))
    if state == "unchanged":
        print(f"The device already has routine '{name}' with this content: nothing changed.")
    else:
        print(f"Routine '{name}' ({routine.title}) is on the device.")
    return 0


def run_pull(args) -> int:
    from companion import owner_client as owner

    with _device(args) as device:
        data = owner.read_routine(device, args.name)
    try:
        parse_toml(data, Path(f"{args.name}.toml"))   # valid TOML holds no control characters to print
    except TomlReadError as error:
        raise FacepaceError(f"the device sent routine '{args.name}' as something that is not TOML: {error}")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


def run_remove(args) -> int:
    with _device(args) as device:
        _decide(device, RemoveRoutine(args.name))
    print(f"Routine '{args.name}' is removed from the device.")
    return 0


def run_order(args) -> int:
    with _device(args) as device:
        state = _decide(device, SetOrder(tuple(args.names)))
    print("The double press offers: " + ", ".join(args.names) + (" (as before)" if state == "unchanged" else ""))
    return 0


def run_show(args) -> int:
    from companion import owner_client as owner

    with _device(args) as device:
        view = owner.read_owner(device)
    rows = [(name, _shown(value), BY_NAME[name].allowed if name in BY_NAME else "",
             "set from the computer" if name in view.overridden else "")
            for name, value in view.settings.items()]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print(for_terminal("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3]).rstrip())
    return 0


def run_set(args) -> int:
    from companion import owner_client as owner

    values = dict(_assignment(text) for text in args.assignments)
    with _device(args) as device:
        before = owner.read_owner(device).settings
        values = _rest_as_periods(values, before)
        state = _decide(device, SetSettings(tuple(values.items())))
        after = owner.read_owner(device).settings if state == "accepted" else before
    for name in values:
        print(for_terminal(f"{name}: {_shown(before.get(name))} -> {_shown(after.get(name))}"))
    if state == "unchanged":
        print("The device had these values already: nothing changed.")
    return 0


def _assignment(text: str) -> tuple[str, Any]:
    name, equals, written = text.partition("=")
    name = name.strip()
    if not equals:
        raise UsageError(f"'{text}': write NAME=VALUE")
    if name not in BY_NAME and name not in goals.REST_ALIASES:
        raise UsageError(f"{name} is not a setting the device takes from the computer"
                         f"{did_you_mean(name, [setting.name for setting in SETTABLE])}")
    written = written.strip()
    if written == "default":
        return name, None
    try:
        value = tomllib.loads(f"value = {written}")["value"]
    except tomllib.TOMLDecodeError:
        value = written    # a bare word: a time zone, or a list of routine names
    if name in goals.REST_ALIASES:
        problem = goals.rest_alias_problem(name, value)
        if problem:
            raise UsageError(f"{name} {problem}")
        return name, value
    if name == "routine_order" and isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    problem = BY_NAME[name].problem(value) if BY_NAME[name].config_key else None
    if problem:     # the device checks the time zone and the order against what it has
        raise UsageError(f"{name} {problem}")
    return name, value


def _rest_as_periods(values: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """rest_until=DATE and rest_days=N become the device's `rest_periods`, from today in the
    device's time zone (the computer's own if it has none)."""
    asked = {name: values.pop(name) for name in goals.REST_ALIASES if name in values}
    if not asked:
        return values
    zone = before.get("time_zone")
    today = datetime.now(None if zone is None else ZoneInfo(zone)).date()
    until = asked.get("rest_until")
    periods = goals.rest_periods_set(before.get("rest_periods"), today,
                                     until=date.fromisoformat(until) if isinstance(until, str) else until,
                                     days=asked.get("rest_days"))
    return {**values, "rest_periods": periods}


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, list):
        return ",".join(value)
    return toml_repr(value)
