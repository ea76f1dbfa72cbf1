"""`facepace export --to DIR`: the device's log as files on a USB drive.

Writes `DIR/facepace/<device-id>/sessions.csv`, `sessions.jsonl` and `report.png`. Each
file goes to a temporary name, is flushed and fsynced, renamed over the real name, and
the folder is fsynced: a drive pulled out at any moment holds either the old file or
the new one under the real name, never half of one. The caller (the udev-started unit)
unmounts the drive and only then tells the person it is safe to remove.

`take_routines` copies the routines in the stick's `facepace/routines/` to the firmware's
inbox, where it asks the person about each as about a computer's push (device.core.owned).
"""

from __future__ import annotations

import io
import json
import os
import stat
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from device.log import logdb
from device.log import report
from device.log import session_columns
from device.base.durable import write_atomically
from device.base.errors import FacepaceError
from device.settings.owner import MAX_OWN_ROUTINES, MAX_ROUTINE_BYTES


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


def take_routines(to: Path, inbox: Path) -> int:
    """Copy `TO/facepace/routines/*.toml` into `inbox` (the firmware's, in the runtime folder):
    plain files only (a stick is hostile: no links out of it), at most the 32 a device keeps,
    each cut at one byte over the 16 KiB a routine may have (the device refuses it then).
    Every check is the device's, on each file, before it asks. Returns how many were copied."""
    folder = Path(to) / "facepace" / "routines"
    try:
        names = sorted(path.name for path in folder.iterdir() if path.suffix == ".toml" and len(path.name) <= 64)
    except OSError:
        return 0
    copied = 0
    for name in names[:MAX_OWN_ROUTINES]:
        try:
            descriptor = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(descriptor, "rb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    continue
                data = file.read(MAX_ROUTINE_BYTES + 1)
            inbox.mkdir(exist_ok=True)
            write_atomically(inbox / name, data)
        except OSError:
            continue
        copied += 1
    return copied
