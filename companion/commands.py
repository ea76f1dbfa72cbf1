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
from device.base.output_safety import for_terminal
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
    said: list[str] = []
    with HostDb.open(args.db) as db:
        link = host.open_device(port_name, timeout=args.timeout)
        try:
            result = host.sync(link, db, timeout=args.timeout, progress=host.progress_bar(),
                               then=lambda talk, welcome: said.append(_follow_this_time_zone(talk, welcome)))
        finally:
            link.close()
    print(result.summary())
    for line in filter(None, said):
        print(line)
    return 0


def _follow_this_time_zone(link, welcome) -> str | None:
    """Offer the device this computer's time zone when it follows another; the person accepts
    it on the device like any change (docs/sync-protocol.md, "Time zone at sync"). The
    sessions are stored already: whatever happens here, the sync has done its job."""
    import tzlocal

    from companion import owner_client as owner
    from companion.sync_client import DeviceRefused, SyncError
    from device.settings.owner import SetSettings
    from device.sync import protocol as p
    from device.settings.settable import time_zone_problem

    device = owner.Device(link, welcome)
    if not device.changeable:
        return "The device's firmware cannot take this computer's time zone (it needs an update)."
    try:
        zone = tzlocal.get_localzone_name()
    except Exception as error:   # tzlocal: no zone configured, or one it cannot name
        return f"This computer's time zone has no name the device could take ({error})."
    if zone is None or time_zone_problem(zone):
        return f"This computer's time zone ({zone}) has no IANA name the device could take."
    try:
        follows = owner.read_owner(device).settings.get("time_zone")
        if follows == zone:
            return None
        print(f"The device counts its days in {follows or 'its system time zone'}, this computer is in {zone}.",
              file=sys.stderr, flush=True)
        final = owner.propose(device, SetSettings((("time_zone", zone),)), on_state=_say_what_to_do)
    except (SyncError, p.ProtocolError) as error:
        if isinstance(error, DeviceRefused) and error.code == p.E_NO_OWNER:
            return None   # `sync-serve` alone takes no changes: nothing to say
        return f"The device keeps its time zone ({for_terminal(str(error))})."
    if final.state == "accepted":
        return f"The device now counts its days in {zone}."
    reason = {"refused": "refused on the device", "timed_out": "nobody pressed the button"}.get(
        final.state, for_terminal(final.message or "; ".join(final.problems) or final.state))
    return f"The device keeps its time zone ({reason})."


def _say_what_to_do(state) -> None:
    from companion.owner_commands import SAID

    if state.state in SAID:
        print(SAID[state.state], file=sys.stderr, flush=True)


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
