"""Writes that survive a power cut or a pulled drive: never a half file under the real name.

The SD card and USB sticks both lose what is only in the page cache; a rename is only
safe once the folder holding it is flushed too.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (so a rename in it is on the card)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, data: bytes) -> None:
    """Temporary name, flush, fsync, rename over `path`, fsync the folder."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)   # only left if something above failed
    fsync_path(path.parent)
