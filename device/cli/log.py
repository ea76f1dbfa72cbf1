"""`facepace log` and `facepace stats`: the session history on the command line.

Read-only: these commands open the file with `mode=ro` and never recover or repair,
so they are safe to run while the device is in the middle of a session.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import textwrap
import time
from datetime import date, datetime
from pathlib import Path
from typing import Iterator

from device.log import goals, history
from device.log import logdb
from device.settings import paths
from device.log import session_columns
from device.base import timefmt
from device.base.errors import FacepaceError
from device.log.logdb import SessionRecord
from device.base.output_safety import for_terminal

# Why a date may carry a "?": shown under the table and in `--help`.
ESTIMATED_NOTE = ("? after a date: estimated. The device's clock had not been set when the session "
                  "began (a Pi has no battery clock); a sync with a computer fixes such dates while "
                  "the device has not restarted since.")


def register(subparsers) -> None:
    """Add `log` and `stats` to the main parser's subcommands."""
    log = subparsers.add_parser(
        "log", help="the device's sessions, newest first",
        description=paragraphs("The sessions in the device's own log, newest first: start, routine, "
                               "active time, zones done, intensity and how each ended. Times are in "
                               "the local time zone.", ESTIMATED_NOTE,
                               f"The log: {paths.session_log()}"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    form = log.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="every field, with zones, as JSON")
    form.add_argument("--csv", action="store_true", help="every field, one row per zone, as CSV")
    log.add_argument("--since", type=parse_date, metavar="YYYY-MM-DD",
                     help="only sessions started on or after this local date")
    log.add_argument("--limit", type=positive_int, metavar="N", help="at most N sessions")
    log.set_defaults(func=run_log)

    stats = subparsers.add_parser(
        "stats", help="weekly goal, streak of weeks, weekly totals and time per zone",
        description="From the device's log: this week against the weekly goal, the current and "
                    "longest streak of weeks that met it, days, sessions and minutes per week for "
                    "the last 8 weeks, and the time spent on each zone. A session counts toward the "
                    "goal when it ran at least half its planned time or 3 minutes.")
    stats.add_argument("--json", action="store_true", help="as JSON")
    stats.set_defaults(func=run_stats)


def paragraphs(*texts: str) -> str:
    """A command's description in paragraphs (for RawDescriptionHelpFormatter)."""
    return "\n\n".join(textwrap.fill(text, 78) for text in texts)


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2024-03-31, got {text!r}") from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


# --- Reading ---------------------------------------------------------------------------

class LogUnreadable(FacepaceError):
    """The session log is there but cannot be read (`file` is the log)."""


def load(*, since: date | None = None, limit: int | None = None, as_json: bool = False,
         db_path: Path | None = None) -> Iterator:
    """Sessions newest first: (record, date quality) rows, or JSON texts; none when there is
    no log yet. Read as they are taken, so a long log is never in memory whole (a Pi Zero 2
    has 512 MB); the file is opened at once, so a log that cannot be opened fails here.

    Nothing is created: the CLI may run before the device ever has.
    """
    path = db_path or paths.session_log()
    if not path.exists():
        return iter(())
    since_wall = None if since is None else datetime(since.year, since.month, since.day).timestamp()
    try:
        connection = logdb.connect(path, read_only=True)
    except sqlite3.Error as error:
        raise LogUnreadable(f"cannot open the session log ({error})", file=path) from None
    reader = logdb.read_sessions_json if as_json else session_columns.read_device_rows
    return _reading(path, connection, reader(connection, since=since_wall, limit=limit))


def _reading(path: Path, connection: sqlite3.Connection, rows: Iterator) -> Iterator:
    try:
        yield from rows
    except sqlite3.Error as error:
        raise LogUnreadable(f"cannot read the session log ({error}); the device repairs it "
                            "the next time it starts", file=path) from None
    finally:
        connection.close()


def run_log(args) -> int:
    """Times are shown in the system's local time zone (TZ)."""
    out = sys.stdout
    sessions = load(since=args.since, limit=args.limit, as_json=args.json)
    if args.json:
        session_columns.write_json(sessions, out)
    elif args.csv:
        session_columns.write_csv(sessions, out)
    else:
        records = [record for record, _ in sessions]
        out.write(format_table(records) if records else "No sessions yet.\n")
    return 0


def run_stats(args) -> int:
    out, now_wall = sys.stdout, time.time()
    sessions = [record for record, _ in load()]
    rules = device_goal_rules(getattr(args, "config", None))
    added = goals.tally(goals.from_records(sessions), now_wall, rules)
    standing, weeks, longest = goals.progress_of(added), goals.weeks_of(added), goals.longest_of(added)
    zones = history.zone_minutes(sessions)
    if args.json:
        json.dump({
            "weekly_goal": rules.weekly_goal, "week_start": goals.WEEKDAYS[rules.week_start],
            "streak_weeks": standing.streak_weeks, "longest_streak_weeks": longest,
            "this_week_can_still_meet": standing.can_still_meet,
            "resting_until": standing.resting_until and standing.resting_until.isoformat(),
            "sessions": len(sessions),
            "weeks": [{"week_start": w.start.isoformat(), "days": w.days_done, "needed": w.needed,
                       "rest_days": w.rest_days, "met": w.met, "sessions": w.sessions,
                       "minutes": round(w.minutes, 2)} for w in weeks],
            "zones": [{"zone_id": z, "minutes": round(m, 2)} for z, m in zones],
        }, out, indent=1)
        out.write("\n")
        return 0
    lines = [goals.week_line(standing, rules.weekly_goal),
             f"Streak: {goals.weeks_phrase(standing.streak_weeks)} (longest {goals.weeks_phrase(longest)})",
             f"Sessions: {len(sessions)}", "", "Week of      Days  Goal  Sessions  Minutes"]
    lines += [f"{w.start.isoformat():<12} {w.days_done:>4} {'rest' if w.skipped else w.needed:>5} "
              f"{w.sessions:>9} {w.minutes:>8.0f}" for w in weeks]
    lines += ["", "Zone                 Time"]   # m:ss: a few seconds of serum must not show as 0
    lines += [f"{zone:<16} {timefmt.total(minutes * 60):>8}"
              for zone, minutes in zones] or ["(none yet)"]
    out.write("\n".join(lines) + "\n")
    return 0


def device_goal_rules(config_arg: Path | None) -> goals.GoalRules:
    """The weekly goal's rules as the device follows them: the config's [goal], then the
    settings from the computer (goal, time zone, rest periods) kept in the state folder."""
    from device.settings.config import load_config
    from device.settings.ownerstore import OwnerStore
    from device.settings.settable import apply_to_config

    owned = OwnerStore(paths.state_dir() / "owner").load().owned.settings
    config = apply_to_config(load_config(paths.config_in_use(config_arg)), owned)
    return goals.rules_from(config.goal, time_zone=owned.get("time_zone"), rest_periods=owned.get("rest_periods"))


# --- Formatting ------------------------------------------------------------------------

def format_table(sessions: list[SessionRecord]) -> str:
    """A row per session; `?` after the date when the clock was not synchronised, and a
    line under the table that says so."""
    lines = [f"{'Started':<17} {'Routine':<14} {'Active':>6}  {'Zones':<11} {'Int':>3}  Outcome"]
    for s in sessions:
        started = datetime.fromtimestamp(s.wall_start).strftime("%Y-%m-%d %H:%M")
        started += " " if s.wall_trusted else "?"
        done, skipped = history.zones_done_and_skipped(s.zones)
        zones = f"{done}/{len(s.zones)}" + (f" {skipped} skip" if skipped else "")
        active = timefmt.duration(s.active_seconds)
        lines.append(for_terminal(f"{started:<17} {s.routine_name[:14]:<14} {active:>6}  {zones:<11} "
                                  f"{s.intensity:>3}  {s.outcome or 'open'}"))
    if not all(s.wall_trusted for s in sessions):
        lines += ["", *textwrap.wrap(ESTIMATED_NOTE, 79)]
    return "\n".join(lines) + "\n"


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"
