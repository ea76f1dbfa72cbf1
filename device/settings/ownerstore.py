"""The person's settings and routines on the card: whole versions, switched atomically.

    store = OwnerStore(state_dir() / "owner")
    loaded = store.load()          # loaded.owned, loaded.notice (None when all is well)
    store.save(proposal.after)     # the new version, or (power cut) still the old one

Each version is a folder of its own, `vNNNNNN/` holding `settings.toml`, `routines/NAME.toml`
and a `manifest.json` of their hashes, written and flushed before anything points at it.
`pointer.json` names the current version and the one before it; it is replaced by
`device.base.durable.write_atomically` (temporary file, fsync, rename, fsync folder), and
that rename is the moment a change happens. So a power cut at any moment leaves the old
version or the new one, never a mix. Folders the pointer does not name (a version cut
while being written, old ones) are removed by the next save.

The previous version is the last good copy: if the current one cannot be read or does not
pass the checks (a damaged card), `load` falls back to it and says so; if neither can, the
device starts without the computer's settings and says that. It lives in the state folder
(systemd's StateDirectory), never in /etc: the service cannot and should not write there.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from device.base.durable import fsync_path, write_atomically
from device.base.errors import FacepaceError
from device.settings.owner import (SETTINGS_FILE, ChangeRejected, Owned, check_routine, content_hash,
                                   parse_settings)
from device.settings.settable import ROUTINE_NAME
from device.settings.tomlsource import MAX_FILE_BYTES

log = logging.getLogger("facepace")

POINTER = "pointer.json"
MANIFEST = "manifest.json"
_VERSION = re.compile(r"v(\d{6,})")


class StoreUnreadable(FacepaceError):
    """One version cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Loaded:
    owned: Owned
    version: str | None            # the folder it came from; None: nothing stored
    notice: str | None = None      # for the screen and the journal when something was wrong


class OwnerStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    # --- Reading ------------------------------------------------------------------------

    def load(self) -> Loaded:
        """The current version, else the last good one, else nothing; never raises."""
        try:
            pointer = self._pointer()
        except StoreUnreadable as error:
            return Loaded(Owned(), None, f"Settings from the computer unreadable ({error}): not used")
        if pointer is None:
            return Loaded(Owned(), None)
        current, previous = pointer
        try:
            return Loaded(self.read_version(current), current)
        except StoreUnreadable as error:
            log.warning("settings from the computer: %s", error)
            if previous is not None:
                try:
                    return Loaded(self.read_version(previous), previous,
                                  f"Settings from the computer unreadable ({error}): using the last good ones")
                except StoreUnreadable as older:
                    log.warning("settings from the computer, last good copy: %s", older)
            return Loaded(Owned(), None, f"Settings from the computer unreadable ({error}): not used")

    def read_version(self, version: str) -> Owned:
        folder = self.folder / version
        manifest = _read_json(folder / MANIFEST)
        try:
            settings_hash = manifest["settings"]
            routine_hashes = manifest["routines"]
            if not isinstance(settings_hash, str) or not isinstance(routine_hashes, dict):
                raise TypeError
        except (KeyError, TypeError):
            raise StoreUnreadable(f"{folder / MANIFEST}: not a manifest") from None
        settings_path = folder / SETTINGS_FILE
        raw = _read_checked(settings_path, settings_hash)
        try:
            settings = parse_settings(raw, settings_path)
            routines = {}
            for name, expected in routine_hashes.items():
                if not isinstance(name, str) or not ROUTINE_NAME.fullmatch(name) or not isinstance(expected, str):
                    raise StoreUnreadable(f"{folder / MANIFEST}: names a routine {name!r}")
                path = folder / "routines" / f"{name}.toml"
                routines[name] = _read_checked(path, expected)
                check_routine(name, routines[name])
        except ChangeRejected as error:
            raise StoreUnreadable(error.lines[0]) from None
        return Owned(settings, routines)

    def _pointer(self) -> tuple[str, str | None] | None:
        path = self.folder / POINTER
        if not path.exists():
            return None
        data = _read_json(path)
        current, previous = data.get("current"), data.get("previous")
        if not _is_version(current) or not (previous is None or _is_version(previous)):
            raise StoreUnreadable(f"{path}: names no version")
        return current, previous

    # --- Writing ------------------------------------------------------------------------

    def save(self, owned: Owned) -> str:
        """Write `owned` as a new version and switch to it; returns its name. `OSError` if
        the card refuses: then the old version is still the current one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            pointer = self._pointer()
        except StoreUnreadable:
            pointer = None
        current = pointer[0] if pointer else None
        numbers = [int(match[1]) for path in self.folder.iterdir() if (match := _VERSION.fullmatch(path.name))]
        version = f"v{max(numbers, default=0) + 1:06d}"
        folder = self.folder / version
        routines_folder = folder / "routines"
        routines_folder.mkdir(parents=True)
        for name, data in owned.routines.items():
            self._write_routine(routines_folder / f"{name}.toml", data, current, name)
        settings = owned.settings_bytes
        _write_flushed(folder / SETTINGS_FILE, settings)
        manifest = {"settings": content_hash(settings),
                    "routines": {name: content_hash(data) for name, data in sorted(owned.routines.items())}}
        _write_flushed(folder / MANIFEST, json.dumps(manifest, indent=1).encode())
        fsync_path(routines_folder)
        fsync_path(folder)
        fsync_path(self.folder)
        write_atomically(self.folder / POINTER, json.dumps({"current": version, "previous": current}).encode())
        self._remove_all_but(version, current)
        return version

    def _write_routine(self, path: Path, data: bytes, current: str | None, name: str) -> None:
        """Unchanged routines are hard links to the current version's file: no rewrite, no fsync."""
        if current is not None:
            old = self.folder / current / "routines" / path.name
            try:
                if old.stat().st_size == len(data) and old.read_bytes() == data:
                    os.link(old, path)
                    return
            except OSError:
                pass
        _write_flushed(path, data)

    def _remove_all_but(self, *keep: str | None) -> None:
        for path in self.folder.iterdir():
            if _VERSION.fullmatch(path.name) and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


def _is_version(value) -> bool:
    return isinstance(value, str) and _VERSION.fullmatch(value) is not None


def _write_flushed(path: Path, data: bytes) -> None:
    """A new file in a folder nothing points at yet: written and flushed (no rename needed)."""
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise StoreUnreadable(f"{path}: cannot read: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise StoreUnreadable(f"{path}: too large")
    return data


def _read_checked(path: Path, expected: str) -> bytes:
    data = _read_bytes(path)
    if content_hash(data) != expected:
        raise StoreUnreadable(f"{path}: damaged (its hash is not the one written)")
    return data


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(_read_bytes(path))
    except (ValueError, RecursionError):
        raise StoreUnreadable(f"{path}: damaged") from None
    if not isinstance(data, dict):
        raise StoreUnreadable(f"{path}: damaged")
    return data
