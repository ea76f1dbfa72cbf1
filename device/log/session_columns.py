"""The session columns every export shows, defined once.

`log --csv/--json` (the device's log), `history --csv/--json` (the computer's copy) and
`facepace export` (sessions.csv and sessions.jsonl on a USB drive) all write these. They are
the log's stored columns (`logdb.SESSION_COLUMNS`, which the sync protocol and the host
database also follow), then the derived ones: `date_quality`, as the sync carries it, and
the start and end in the local time zone. CSV has one row per zone, the session's columns
repeated; JSON has a `zones` list.

A row is a stored session and its date quality. Every CSV value goes through `csv_cell`,
the one place to make a value safe for a spreadsheet.
"""

from __future__ import annotations

import csv
import sqlite3
from datetime import datetime
from typing import Iterable, Iterator

from device.log import logdb
from device.log.logdb import SessionRecord
from device.base.output_safety import for_spreadsheet

STORED_COLUMNS = logdb.SESSION_COLUMNS

SESSION_COLUMNS = (*STORED_COLUMNS, "date_quality", "start_local", "end_local")
ZONE_COLUMNS = ("zone_position", "zone_id", "zone_planned_seconds", "zone_done_seconds", "zone_skipped")

Row = tuple[SessionRecord, str]   # a session and its date quality


def date_quality(*, wall_trusted: bool, fixed_at_sync: bool) -> str:
    """How far to trust a session's date: the device's clock was set when it began ("clock"),
    it was fixed from the computer's time at a sync ("host"), or it was not ("estimated"):
    the sync protocol's DATE_QUALITIES."""
    return "host" if fixed_at_sync else "clock" if wall_trusted else "estimated"


def read_device_rows(connection: sqlite3.Connection, **choice) -> Iterator[Row]:
    """The device log's sessions (`logdb.iter_sessions(**choice)`) as rows, one at a time."""
    fixed = logdb.read_fixed_at_sync(connection)
    for s in logdb.iter_sessions(connection, **choice):
        yield s, date_quality(wall_trusted=s.wall_trusted, fixed_at_sync=s.id in fixed)


def session_fields(row: Row) -> dict:
    """Every column of one session, zones as a list: one JSON object of an export."""
    session, quality = row
    fields = session.as_dict()
    zones = fields.pop("zones")
    fields.update(date_quality=quality, start_local=_local(session.wall_start),
                  end_local=_local(session.wall_end), zones=zones)
    return fields


def write_json(texts: Iterable[str], out) -> None:
    """Sessions' JSON objects as one JSON array, a session per line (readable, and a line-by-line
    tool can take it), written as they come: a long history is never in memory whole."""
    opening = "[\n"
    for text in texts:
        out.write(opening)
        out.write(text)
        opening = ",\n"
    out.write("[]\n" if opening == "[\n" else "\n]\n")


def write_csv(rows: Iterable[Row], out) -> None:
    """One line per zone, the session's columns repeated; a session without zones gets one."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*SESSION_COLUMNS, *ZONE_COLUMNS])
    for row in rows:
        fields = session_fields(row)
        head = [fields[name] for name in SESSION_COLUMNS]
        zones = [[position, zone["zone_id"], zone["planned_seconds"], zone["done_seconds"], zone["skipped"]]
                 for position, zone in enumerate(fields["zones"])] or [[None] * len(ZONE_COLUMNS)]
        for tail in zones:
            writer.writerow([csv_cell(value) for value in head + tail])


def csv_cell(value):
    """A value as a CSV cell: None is empty, and text a spreadsheet would run as a formula is
    neutralised (a device's routine name crosses the cable and may be hostile)."""
    return "" if value is None else for_spreadsheet(value)


def _local(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall).astimezone().isoformat(timespec="seconds")
