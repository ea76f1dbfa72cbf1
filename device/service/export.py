"""`facepace export --to DIR`: the device's log as files on a USB drive.

Writes `DIR/facepace/<device-id>/sessions.csv`, `sessions.jsonl` and `report.png`. Each
file goes to a temporary name, is flushed and fsynced, renamed over the real name, and
the folder is fsynced: a drive pulled out at any moment holds either the old file or
the new one under the real name, never half of one. The caller (the udev-started unit)
unmounts the drive and only then tells the person it is safe to remove.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from device.log import logdb
from device.log import report
from device.log import session_columns
from device.base.durable import write_atomically
from device.base.errors import FacepaceError


class ExportError(FacepaceError):
    """The export could not be written (message names the file and the reason)."""


@dataclass(frozen=True)
class Exported:
    folder: Path
    sessions: int


def export_log(db_path: Path, to: Path, *, now_wall: float | None = None) -> Exported:
    if not Path(to).is_dir():
        raise ExportError("not a folder (is the drive mounted?)", file=to)
    rows, device_id = _read(Path(db_path))
    folder = Path(to) / "facepace" / device_id
    text = io.StringIO()
    session_columns.write_csv(rows, text)
    lines = "".join(json.dumps(session_columns.session_fields(row)) + "\n" for row in rows)
    sessions = [record for record, _ in rows]
    picture = report.png_bytes(report.render(sessions, now_wall=now_wall or time.time()))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in (("sessions.csv", text.getvalue().encode()),
                           ("sessions.jsonl", lines.encode()), ("report.png", picture)):
            write_atomically(folder / name, data)
    except OSError as error:
        raise ExportError(f"cannot write: {error.strerror or error}", file=folder) from None
    return Exported(folder, len(sessions))


def _read(db_path: Path):
    if not db_path.exists():
        raise ExportError("no session log yet; nothing to export", file=db_path)
    try:
        connection = logdb.connect(db_path, read_only=True)
        try:
            device_id = logdb.get_meta(connection, "device_id") or "unknown"
            return list(session_columns.read_device_rows(connection)), device_id
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise ExportError(f"cannot read the session log ({error})", file=db_path) from None
