"""Shows the progress and result of a USB-drive export.

The export runs in its own root unit (it mounts the drive), which reports through a small
key=value file it replaces atomically: state=exporting|done|failed, sessions=, error=.
A stat() a second is all this costs; "safe to remove" is only shown once the unit has
flushed and unmounted the drive (it writes state=done after that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from device.core.events import Notice, SyncProgress


def read_status(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def event_for(status: dict[str, str]):
    """The app event for a status: the "Exported n, safe to remove" screen, or a notice."""
    state = status.get("state")
    if state == "exporting":
        return Notice("Exporting to USB")
    if state == "done":
        try:
            sessions = int(status.get("sessions", ""))
        except ValueError:
            sessions = 0
        return SyncProgress(sessions, sessions, done=True, to_drive=True)
    if state == "failed":
        return Notice(f"Export failed: {status.get('error') or 'see log'}")
    return None


class ExportStatusWatcher:
    def __init__(self, path: Path, send: Callable[[object], None], *, interval: float = 1.0) -> None:
        self.path = path
        self._send = send
        self._interval = interval
        self._next: float | None = None
        self._seen = self._identity()   # an old result from before this start is not news

    def next_deadline(self) -> float | None:
        return self._next

    def poll(self, now: float) -> None:
        if self._next is not None and now < self._next:
            return
        self._next = now + self._interval
        identity = self._identity()
        if identity is None or identity == self._seen:
            return
        self._seen = identity
        try:
            event = event_for(read_status(self.path))
        except OSError:
            return
        if event is not None:
            self._send(event)

    def _identity(self):
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size
