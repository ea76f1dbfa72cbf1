"""Shows the result of a USB-drive export on the notice line.

The export runs in its own root unit (it mounts the drive), which reports through a small
key=value file it replaces atomically: state=exporting|done|failed, sessions=, error=.
A stat() a second is all this costs; "safe to remove" is only shown once the unit has
flushed and unmounted the drive (it writes state=done after that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def read_status(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def message_for(status: dict[str, str]) -> str | None:
    state = status.get("state")
    if state == "exporting":
        return "Exporting to USB drive"
    if state == "done":
        return f"Exported {status.get('sessions') or '?'} - safe to remove"
    if state == "failed":
        return f"Export failed: {status.get('error') or 'see log'}"
    return None


class ExportStatusWatcher:
    def __init__(self, path: Path, notify: Callable[[str], None], *, interval: float = 1.0) -> None:
        self.path = path
        self._notify = notify
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
            message = message_for(read_status(self.path))
        except OSError:
            return
        if message:
            self._notify(message)

    def _identity(self):
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size
