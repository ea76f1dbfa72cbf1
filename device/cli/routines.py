"""`facepace routines list | show NAME [--json] | check FILE...`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from device.base import timefmt
from device.settings.config import load_checked_config
from device.base.errors import RoutineError
from device.settings.paths import config_in_use, routines_dir
from device.settings.routines import Routine, find_routine, load_library, load_routine


def register(subparsers: argparse._SubParsersAction) -> None:
    routines = subparsers.add_parser(
        "routines", help="list, show and check massage routines",
        description="The routines the device offers: the built-ins, and your own .toml files in "
                    "the routines folder next to the config file (one with a built-in's name "
                    "replaces it).")
    commands = routines.add_subparsers(dest="routines_command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="the routines the device offers, in order",
                                  description="The routines the device offers, in order: name, "
                                              "title, length and zones; (user) marks your own.")
    listing.set_defaults(func=list_routines)

    show = commands.add_parser("show", help="one routine's zones",
                               description="One routine's zones: time, tempo, intensity, sides and cue.")
    show.add_argument("name", metavar="NAME|FILE", help="a routine name or a .toml file")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.set_defaults(func=show_routine)

    check = commands.add_parser("check", help="validate routine files (exit 1 if any is bad)",
                                description="Check routine files: every problem at once, as "
                                            "FILE:LINE: what to fix. Exit 1 if any file is bad.")
    check.add_argument("files", metavar="FILE", nargs="+", type=Path)
    check.set_defaults(func=check_routines)


def user_dir(args: argparse.Namespace) -> Path | None:
    """The routines folder next to the config in use (as `facepace run` picks it); the
    config is checked as `run` checks it."""
    return routines_dir(load_checked_config(config_in_use(args.config)).source)


def list_routines(args: argparse.Namespace) -> int:
    library = load_library(user_dir(args))
    width = max(len(routine.name) for routine in library.routines) if library.routines else 0
    for routine in library.routines:
        origin = "" if library.is_builtin(routine) else "  (user)"
        print(f"{routine.name:<{width}}  {routine.title:<24}  {timefmt.duration(routine.total_seconds):>5}  "
              f"{_zone_count(routine)}{origin}")
    for error in library.errors:
        for problem in error.problems:
            print(f"skipped: {problem}", file=sys.stderr)
    return 0


def show_routine(args: argparse.Namespace) -> int:
    routine = find_routine(args.name, user_dir(args))
    if args.json:
        print(json.dumps(routine_as_dict(routine), indent=2, ensure_ascii=False))
    else:
        print(routine_table(routine))
    return 0


def check_routines(args: argparse.Namespace) -> int:
    """Every file is checked; the problems of all of them make one RoutineError (exit 1)."""
    problems = []
    for path in args.files:
        try:
            routine = load_routine(path)
        except RoutineError as error:
            problems += error.problems
            continue
        print(f"{path}: ok ({_zone_count(routine)}, {timefmt.duration(routine.total_seconds)})")
    if problems:
        raise RoutineError(problems=problems)
    return 0


def routine_as_dict(routine: Routine) -> dict[str, Any]:
    return {
        "name": routine.name,
        "title": routine.title,
        "description": routine.description,
        "total_seconds": routine.total_seconds,
        "content_hash": routine.content_hash,
        "source": str(routine.source),
        "zones": [
            {"id": zone.id, "title": zone.title, "cue": zone.cue, "seconds": zone.seconds,
             "tempo": zone.tempo, "intensity": zone.intensity, "sides": zone.sides,
             "enabled": zone.enabled}
            for zone in routine.zones
        ],
    }


def routine_table(routine: Routine) -> str:
    length = timefmt.duration(routine.total_seconds)
    lines = [f"{routine.name}: {routine.title} ({length}, {_zone_count(routine)})"]
    if routine.description:
        lines.append(routine.description)
    lines.append(f"source: {routine.source}")
    lines.append("")
    id_width = max(len(zone.id) for zone in routine.zones)
    lines.append(f"{'#':>2}  {'id':<{id_width}}  {'title':<12}  {'time':>5}  {'tempo':>5}  "
                 f"{'int':>3}  {'sides':>5}  cue")
    for number, zone in enumerate(routine.zones, start=1):
        cue = " / ".join(zone.cue_lines)
        off = "" if zone.enabled else "  (off)"
        seconds = timefmt.duration(zone.seconds)
        lines.append(f"{number:>2}  {zone.id:<{id_width}}  {zone.title:<12}  {seconds:>5}  "
                     f"{zone.tempo:>5}  {zone.intensity:>3}  {zone.sides:>5}  {cue}{off}")
    return "\n".join(lines)


def _zone_count(routine: Routine) -> str:
    """Enabled zones; disabled ones are mentioned so a shorter length is not a surprise."""
    active = len(routine.active_zones)
    text = f"{active} zone" + ("" if active == 1 else "s")
    disabled = len(routine.zones) - active
    return text + (f", {disabled} off" if disabled else "")
