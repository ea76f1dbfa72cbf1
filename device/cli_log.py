"""`facepace log` and `facepace stats`: the session history on the command line.

Read-only: these commands open the file with `mode=ro` and never recover or repair,
so they are safe to run while the device is in the middle of a session.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import time
from datetime import date, datetime
from pathlib import Path

from device import history, logdb, paths
from device.logdb import SessionRecord
from device.output_safety import for_spreadsheet, for_terminal

DB_NAME = "sessions.db"

CSV_SESSION_FIELDS = ("id", "seq", "device_id", "routine_name", "routine_hash", "intensity",
                      "wall_start", "wall_end", "wall_checkpoint", "start_local", "end_local",
                      "wall_trusted",
                      "boot_id", "mono_start", "mono_end", "active_seconds", "outcome")
CSV_ZONE_FIELDS = ("zone_position", "zone_id", "zone_planned_seconds", "zone_done_seconds",
                   "zone_skipped")


def register(subparsers) -> None:
    """Add `log` and `stats` to the main parser's subcommands."""
    log = subparsers.add_parser("log", help="sessions, newest first")
    form = log.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="every field, with zones, as JSON")
    form.add_argument("--csv", action="store_true", help="every field, one row per zone, as CSV")
    log.add_argument("--since", type=parse_date, metavar="YYYY-MM-DD",
                     help="only sessions started on or after this local date")
    log.add_argument("--limit", type=positive_int, metavar="N", help="at most N sessions")
    log.set_defaults(func=run_log)

    stats = subparsers.add_parser("stats", help="streak, weekly totals and minutes per zone")
    stats.add_argument("--json", action="store_true", help="as JSON")
    stats.set_defaults(func=run_stats)


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

class LogUnreadable(Exception):
    pass


def load(*, since: date | None = None, limit: int | None = None, as_json: bool = False,
         db_path: Path | None = None) -> list:
    """Sessions newest first (records, or JSON texts); [] when there is no log yet.

    Nothing is created: the CLI may run before the device ever has.
    """
    path = db_path or paths.state_dir() / DB_NAME
    if not path.exists():
        return []
    since_wall = None if since is None else datetime(since.year, since.month, since.day).timestamp()
    try:
        connection = logdb.connect(path, read_only=True)
    except sqlite3.Error as error:
        raise LogUnreadable(f"{path}: cannot open the session log ({error})") from None
    try:
        reader = logdb.read_sessions_json if as_json else logdb.read_sessions
        return reader(connection, since=since_wall, limit=limit)
    except sqlite3.Error as error:
        raise LogUnreadable(f"{path}: cannot read the session log ({error}); the device "
                            "repairs it the next time it starts") from None
    finally:
        connection.close()


def run_log(args) -> int:
    """Times are shown in the system's local time zone (TZ)."""
    out = sys.stdout
    try:
        sessions = load(since=args.since, limit=args.limit, as_json=args.json)
    except LogUnreadable as error:
        print(f"facepace: {error}", file=sys.stderr)
        return 1
    if args.json:
        # One session per line: a valid JSON array that is still readable.
        out.write("[\n" + ",\n".join(sessions) + "\n]\n" if sessions else "[]\n")
    elif args.csv:
        write_csv(sessions, out)
    elif not sessions:
        print("No sessions yet.", file=out)
    else:
        out.write(format_table(sessions))
    return 0


def run_stats(args) -> int:
    out, now_wall = sys.stdout, time.time()
    try:
        sessions = load()
    except LogUnreadable as error:
        print(f"facepace: {error}", file=sys.stderr)
        return 1
    summary = history.overview(sessions, now_wall)
    weeks = history.weekly(sessions, now_wall)
    zones = history.zone_minutes(sessions)
    longest = history.longest_streak(sessions)
    if args.json:
        json.dump({
            "streak_days": summary.streak_days, "longest_streak_days": longest,
            "sessions": len(sessions),
            "weeks": [{"week_start": w.week_start.isoformat(), "sessions": w.sessions,
                       "minutes": round(w.minutes, 2)} for w in weeks],
            "zones": [{"zone_id": z, "minutes": round(m, 2)} for z, m in zones],
        }, out, indent=1)
        out.write("\n")
        return 0
    lines = [f"Streak: {_days(summary.streak_days)} (longest {_days(longest)})",
             f"Sessions: {len(sessions)}", "", "Week of      Sessions  Minutes"]
    lines += [f"{w.week_start.isoformat():<12} {w.sessions:>8} {w.minutes:>8.0f}" for w in weeks]
    lines += ["", "Zone                 Time"]   # m:ss: a few seconds of serum must not show as 0
    lines += [f"{zone:<16} {history.format_duration(minutes * 60):>8}"
              for zone, minutes in zones] or ["(none yet)"]
    out.write("\n".join(lines) + "\n")
    return 0


# --- Formatting ------------------------------------------------------------------------

def _local(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall).astimezone().isoformat(timespec="seconds")


def session_fields(session: SessionRecord) -> dict:
    """Every field, with local times: what `log --json` gives for each session."""
    fields = session.as_dict()
    fields["start_local"] = _local(session.wall_start)
    fields["end_local"] = _local(session.wall_end)
    return fields


def write_csv(sessions: list[SessionRecord], out, *, extra: dict[str, list] | None = None) -> None:
    """One row per zone, the session's fields repeated; a session without zones gets one row.
    `extra` adds session columns kept elsewhere (the computer's `date_quality`), one value each."""
    extra = extra or {}
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_SESSION_FIELDS, *extra, *CSV_ZONE_FIELDS])
    for index, session in enumerate(sessions):
        fields = session_fields(session)
        head = [fields[name] for name in CSV_SESSION_FIELDS] + [values[index] for values in extra.values()]
        zones = fields["zones"] or [None]
        for position, zone in enumerate(zones):
            tail = ([position, zone["zone_id"], zone["planned_seconds"], zone["done_seconds"],
                     zone["skipped"]] if zone else [""] * len(CSV_ZONE_FIELDS))
            writer.writerow([for_spreadsheet(cell) for cell in head + tail])


def format_table(sessions: list[SessionRecord]) -> str:
    """A row per session; `?` after the date when the clock was not synchronised."""
    lines = [f"{'Started':<17} {'Routine':<14} {'Active':>6}  {'Zones':<11} {'Int':>3}  Outcome"]
    for s in sessions:
        started = datetime.fromtimestamp(s.wall_start).strftime("%Y-%m-%d %H:%M")
        started += " " if s.wall_trusted else "?"
        done, skipped = history.zones_done_and_skipped(s.zones)
        zones = f"{done}/{len(s.zones)}" + (f" {skipped} skip" if skipped else "")
        active = f"{int(s.active_seconds) // 60}:{int(s.active_seconds) % 60:02d}"
        lines.append(for_terminal(f"{started:<17} {s.routine_name[:14]:<14} {active:>6}  {zones:<11} "
                                  f"{s.intensity:>3}  {s.outcome or 'open'}"))
    return "\n".join(lines) + "\n"


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def main(argv: list[str] | None = None) -> int:
    """`python -m device.cli_log log --json`: for the benchmark until the lead wires `facepace`."""
    parser = argparse.ArgumentParser(prog="facepace")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
