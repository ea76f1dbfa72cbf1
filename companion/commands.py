"""`facepace sync`, `history` and `report`: the commands for the person's computer.

`sync` pulls the device's sessions over USB serial into a database in the user's data
folder (`--db` to choose); `history` and `report` read that database. The device's side
(`sync-serve`, `export`) is `device.cli.serve`.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from device.cli import log as cli_log
from device.log import goals, session_columns
from device.base.errors import FacepaceError
from device.cli.serve import positive_seconds

SYNC_TIMEOUT = 5.0


def register(subparsers) -> None:
    from companion.hostdb import default_path

    db_help = f"the computer's copy of the synced sessions (default: {default_path()})"
    sync = subparsers.add_parser(
        "sync", help="copy the device's sessions to this computer over USB",
        description="Copy the sessions the device recorded since the last sync into this "
                    "computer's database, and set the device's clock from this computer's. "
                    "Resumable: a cable pulled out never loses or doubles a session.")
    sync.add_argument("--port", metavar="PATH", help="serial port (default: find the facepace device)")
    sync.add_argument("--db", type=Path, metavar="PATH", help=db_help)
    sync.add_argument("--timeout", type=positive_seconds, default=SYNC_TIMEOUT, metavar="SECONDS",
                      help=f"give up when the device does not answer (default {SYNC_TIMEOUT:g})")
    sync.set_defaults(func=run_sync)

    history = subparsers.add_parser(
        "history", help="the sessions synced to this computer",
        description=cli_log.paragraphs("The sessions synced to this computer, newest first, from "
                                       "every device (--device to choose one).", cli_log.ESTIMATED_NOTE),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    form = history.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="every field, with zones, as JSON")
    form.add_argument("--csv", action="store_true", help="every field, one row per zone, as CSV")
    history.add_argument("--db", type=Path, metavar="PATH", help=db_help)
    history.add_argument("--device", metavar="ID", help="only this device's sessions")
    _goal_options(history)
    history.set_defaults(func=run_history)

    report = subparsers.add_parser(
        "report", help="a picture of the synced history",
        description="Draw the synced history as a picture: this week against the weekly goal, "
                    "the streak of weeks that met it, minutes per day and time per zone.")
    report.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="the picture to write: FILE.png or FILE.jpg")
    report.add_argument("--db", type=Path, metavar="PATH", help=db_help)
    report.add_argument("--device", metavar="ID", help="only this device's sessions")
    _goal_options(report)
    report.set_defaults(func=run_report)


def _goal_options(parser) -> None:
    """The weekly goal as the device has it (the computer's copy of the log does not hold it)."""
    parser.add_argument("--goal", type=int, choices=range(1, 8), default=goals.DEFAULT_GOAL, metavar="DAYS",
                        help=f"the weekly goal, days a week (1..7, default {goals.DEFAULT_GOAL})")
    parser.add_argument("--week-start", choices=goals.WEEKDAYS, default="monday", metavar="DAY",
                        help="the day weeks start on (default monday)")


def _goal_rules(args) -> "goals.GoalRules":
    return goals.GoalRules(weekly_goal=args.goal, week_start=goals.WEEKDAYS.index(args.week_start))



def run_sync(args) -> int:
    from companion import sync_client as host
    from companion.hostdb import HostDb

    port_name = args.port or host.find_port()
    with HostDb.open(args.db) as db:
        link = host.open_device(port_name, timeout=args.timeout)
        try:
            result = host.sync(link, db, timeout=args.timeout, progress=host.progress_bar())
        finally:
            link.close()
    print(result.summary())
    return 0


@contextmanager
def _host_db(args) -> Iterator:
    """The computer's database, open, once `--device` (if given) is known to be in it."""
    from companion.hostdb import HostDb

    with HostDb.open(args.db) as db:
        known = db.devices()
        if args.device and args.device not in known:
            raise FacepaceError(f"no device '{args.device}' in {db.path}; " + (
                "the devices synced here: " + ", ".join(known) if known else
                "no device has been synced here yet: run 'facepace sync' with the device plugged in"))
        yield db


def run_history(args) -> int:
    """Streamed from the database as it is read: a long history is never in memory whole."""
    out = sys.stdout
    with _host_db(args) as db:
        if args.json:
            session_columns.write_json(db.sessions_json(device_id=args.device), out)
        elif args.csv:
            session_columns.write_csv(db.iter_sessions(device_id=args.device), out)
        else:
            records = [record for record, _ in db.iter_sessions(device_id=args.device)]
            if not records:
                out.write("No synced sessions yet: run 'facepace sync' with the device plugged in.\n")
            else:
                out.write(cli_log.format_table(records))
                out.write("\n" + goal_lines(records, datetime.now().timestamp(), _goal_rules(args)))
    return 0


def goal_lines(records: list, now_wall: float, rules: "goals.GoalRules") -> str:
    """Under the table: this week against the goal and the streak of weeks, as `stats` says them."""
    added = goals.tally(goals.from_records(records), now_wall, rules)
    standing = goals.progress_of(added)
    return (f"{goals.week_line(standing, rules.weekly_goal)}\n"
            f"Streak: {goals.weeks_phrase(standing.streak_weeks)} "
            f"(longest {goals.weeks_phrase(goals.longest_of(added))})\n")


def run_report(args) -> int:
    from device.log import report

    report.format_for(args.out)   # before any work: a name we cannot write is a usage error
    rules = _goal_rules(args)
    now = datetime.now().timestamp()
    with _host_db(args) as db:
        # One pass over the sessions (without their zones, which SQLite adds up): a number per
        # day, zone and device is all the picture keeps; the goal reads each session's plan.
        totals = report.add_up((record for record, _ in db.iter_sessions(device_id=args.device, zones=False)),
                               rules.tz, zone_seconds=db.zone_seconds(device_id=args.device))
        added = goals.tally(db.goal_sessions(device_id=args.device), now, rules)
    image = report.draw(totals, added, now_wall=now)
    try:
        report.save(image, args.out)
    except OSError as error:
        raise FacepaceError(f"cannot write: {error.strerror or error}", file=args.out) from None
    print(f"Wrote {args.out} ({totals.sessions} sessions)")
    return 0
