"""The session log's SQLite file: schema, migrations, health check, repair, and reading.

Kept apart from the recorder (`device.log.sessionlog`) so the CLI can read the same file
without recovering or rewriting anything while the device is running a session.

Schema changes are forward migrations in `MIGRATIONS`: entry *n* turns version *n* into
version *n + 1* (`PRAGMA user_version`). Adding a version is appending one tuple of
statements. A column added later must have a default, so that rows salvaged from an
older file (see `salvage`) can be copied with only the columns both versions share.

Sync (issue 5): `sessions.seq` is the device-side sequence the host asks "what comes
after". It is NULL while a session is open and is given (or given again) in the same
transaction that finalises the session, always above every seq given before
(`MAX(seq) + 1`, and rows are never deleted). So a session that was still open during
a sync gets a seq above everything that sync saw, and the next sync picks it up. The
host keeps one "last seq" per (device_id, log_id): `log_id` is new whenever a fresh
file is started (first start, or after repair), because seqs of a repaired file start
again from 1; the host then asks from 0 and de-duplicates by session id.

Size (~670 lines): one file's schema and all that opens, checks, rebuilds or reads it. Repair
and salvage (the two middle sections, about half) are the split to make: they need only the
schema, its column lists and the connection helpers (`connect`, `migrate`, `transaction`, the
meta table). Not made yet because that code and the queries were being changed in parallel
(issues 9 and 12): a move would have turned each change into a conflict.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

from device.base.errors import FacepaceError
from device.base.durable import fsync_path

MIGRATIONS: list[tuple[str, ...]] = [
    # Version 1.
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        """CREATE TABLE sessions (
            id TEXT NOT NULL UNIQUE,            -- random UUID
            seq INTEGER UNIQUE,                 -- sync sequence; NULL while open
            device_id TEXT NOT NULL,
            routine_name TEXT NOT NULL,
            routine_hash TEXT NOT NULL,         -- hash of the routine file's exact content
            intensity INTEGER NOT NULL,
            wall_start REAL NOT NULL,           -- Unix seconds, as the wall clock said
            wall_end REAL,                      -- NULL while open
            wall_checkpoint REAL,               -- last write; the end of an interrupted session
            wall_trusted INTEGER NOT NULL,      -- 1: the clock was synchronised at the start
            boot_id TEXT NOT NULL,              -- with mono_start, lets sync correct the date
            mono_start REAL NOT NULL,
            active_seconds REAL NOT NULL DEFAULT 0,  -- pauses excluded
            outcome TEXT CHECK (outcome IN ('completed', 'ended_early', 'interrupted'))
        )""",
        "CREATE INDEX sessions_by_start ON sessions (wall_start)",
        """CREATE TABLE zones (
            session_id TEXT NOT NULL REFERENCES sessions (id),
            position INTEGER NOT NULL,
            zone_id TEXT NOT NULL,
            planned_seconds REAL NOT NULL,
            done_seconds REAL NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, position)
        ) WITHOUT ROWID""",
        """CREATE TABLE sync_acks (
            host_id TEXT PRIMARY KEY,
            log_id TEXT NOT NULL,
            acked_seq INTEGER NOT NULL,
            acked_wall REAL NOT NULL
        ) WITHOUT ROWID""",
    ),
    # Version 2: date fixes made at a sync (device.log.clockfix), so a corrected date can
    # be told from one the clock gave and undone. Firmware before version 2 created this
    # very table on its own at its first sync, hence IF NOT EXISTS: such files keep it
    # and its rows.
    (
        """CREATE TABLE IF NOT EXISTS sync_date_fixes (
            session_id TEXT PRIMARY KEY,
            wall_start_before REAL NOT NULL,   -- what the untrusted clock said
            shift REAL NOT NULL,               -- seconds added to wall_start/wall_end/wall_checkpoint
            fixed_wall REAL NOT NULL           -- host UTC when the fix was made
        ) WITHOUT ROWID""",
    ),
    # Version 3: the monotonic end, so a sync corrects a session's end from its own offset
    # (a session that spans a sync has an untrusted start but a trusted end). Set at the
    # start, at every checkpoint and at the finish: an interrupted session's is its last
    # checkpoint's. NULL for sessions recorded before version 3.
    (
        "ALTER TABLE sessions ADD COLUMN mono_end REAL",
        # From now on `shift` moves wall_start only; end_shift moves wall_end and
        # wall_checkpoint. NULL: a fix made before version 3, which moved them by `shift`.
        "ALTER TABLE sync_date_fixes ADD COLUMN end_shift REAL",
    ),
    # Version 4: how many zone rows a session has, so a salvage can tell all of its zones
    # from some (a damaged page can hide the last ones without an error). Not a field of
    # the session (not in SESSION_COLUMNS): it is len(zones). Filled in for the sessions
    # already stored, which a healthy file (migrations run after the health check) holds whole.
    (
        "ALTER TABLE sessions ADD COLUMN zone_count INTEGER",
        "UPDATE sessions SET zone_count = (SELECT COUNT(*) FROM zones WHERE session_id = sessions.id)",
    ),
    # Version 5: why the device itself ended a session (a flat battery). Its outcome stays
    # 'ended_early', so history, sync and older computers read it as before; the row only
    # says why. No row: the person ended it, or older firmware did.
    (
        """CREATE TABLE session_end_reasons (
            session_id TEXT PRIMARY KEY REFERENCES sessions (id),
            reason TEXT NOT NULL CHECK (reason IN ('low_battery'))
        ) WITHOUT ROWID""",
    ),
]
# What the device may end a session for, besides the person: stored as 'ended_early' plus a
# row in session_end_reasons.
END_REASONS = ("low_battery",)

SESSION_COLUMNS = (
    "id", "seq", "device_id", "routine_name", "routine_hash", "intensity", "wall_start",
    "wall_end", "wall_checkpoint", "wall_trusted", "boot_id", "mono_start",
    "active_seconds", "outcome", "mono_end",
)
ZONE_COLUMNS = ("session_id", "position", "zone_id", "planned_seconds", "done_seconds", "skipped")
DATE_FIX_COLUMNS = ("session_id", "wall_start_before", "shift", "fixed_wall", "end_shift")
_POSITION = ZONE_COLUMNS.index("position")

# SQLite primary result codes (the low byte of `sqlite_errorcode`).
SQLITE_ERROR, SQLITE_BUSY, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 1, 5, 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26


class NewerSchemaError(FacepaceError):
    """The file was written by newer firmware; we must not write to it."""


class ZoneProgress(NamedTuple):
    """One zone's plan and progress. A tuple: tens of thousands are built for `log --json`."""

    zone_id: str
    planned_seconds: float
    done_seconds: float = 0.0
    skipped: bool = False


@dataclass
class SessionRecord:
    """One session as stored; `outcome` is None while the session is open."""

    id: str
    device_id: str
    routine_name: str
    routine_hash: str
    intensity: int
    wall_start: float
    wall_trusted: bool
    boot_id: str
    mono_start: float
    active_seconds: float = 0.0
    outcome: str | None = None
    wall_end: float | None = None
    wall_checkpoint: float | None = None
    mono_end: float | None = None    # monotonic time of the end, or of the last checkpoint
    seq: int | None = None
    zones: tuple[ZoneProgress, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        """Every field (SESSION_COLUMNS), zones included, in JSON-ready types."""
        fields = {name: getattr(self, name) for name in SESSION_COLUMNS}
        fields["zones"] = [zone._asdict() for zone in self.zones]
        return fields


def error_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_corruption(error: sqlite3.Error) -> bool:
    """Only these mean "the file is damaged"; I/O, read-only and full leave it alone.

    "unsupported file format" is a generic error (SQLITE_ERROR) for a header whose schema
    format or payload fractions no SQLite writes: a damaged header, not a newer file
    (firmware's newer schemas are told by `user_version`, see NewerSchemaError)."""
    if error_code(error) == SQLITE_ERROR and "unsupported file format" in str(error):
        return True
    return error_code(error) in (SQLITE_CORRUPT, SQLITE_NOTADB)


# How long a writer waits for another writer's transaction. The recorder writes from its
# own worker thread (device.log.recording), never from the pacing loop, so it can afford to
# wait out a slow SD-card fsync. In the firmware the sync's writes go through the same
# SessionLog (its lock), so only a second process (`facepace sync-serve`) competes.
WRITER_BUSY_TIMEOUT = 2.0
READER_BUSY_TIMEOUT = 0.25


def connect(path: Path, *, read_only: bool = False,
            busy_timeout: float | None = None) -> sqlite3.Connection:
    """Open with the durability settings the device relies on.

    Autocommit mode (`isolation_level=None`): transactions are explicit, so each one is
    exactly one commit (one WAL fsync). In WAL mode readers never wait for writers; the
    busy timeout (WRITER_BUSY_TIMEOUT or READER_BUSY_TIMEOUT unless given) is how long one
    writer waits for another.
    """
    target = Path(path).absolute()
    if read_only:
        timeout = READER_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        connection = sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True,
                                     isolation_level=None, check_same_thread=False, timeout=timeout)
    else:
        timeout = WRITER_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        connection = sqlite3.connect(target, isolation_level=None,
                                     check_same_thread=False, timeout=timeout)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        # Keep the WAL file from growing without bound on a small card.
        connection.execute("PRAGMA journal_size_limit = 1048576")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def is_healthy(connection: sqlite3.Connection) -> bool:
    """Raises for I/O trouble, False for a damaged file.

    `PRAGMA integrity_check` rather than `quick_check`: a few random bytes can change an
    indexed value, which only the full check sees (it costs a third more: 30 ms against 22
    for 10,000 sessions here). And every session must have all of its zone rows (version 4
    on): bytes that change a zone's key hide it from its session without breaking any tree.
    """
    try:
        if connection.execute("PRAGMA integrity_check(1)").fetchall() != [("ok",)]:
            return False
        if schema_version(connection) < 0:
            return False   # no firmware writes that: the header was damaged
        if "zone_count" not in {row[1] for row in connection.execute("PRAGMA table_info(sessions)")}:
            return True
        return connection.execute(
            "SELECT 1 FROM sessions AS s WHERE zone_count IS NOT"
            " (SELECT COUNT(*) FROM zones WHERE session_id = s.id) LIMIT 1").fetchone() is None
    except sqlite3.DatabaseError as error:
        if is_corruption(error):
            return False
        raise


def schema_version(connection: sqlite3.Connection) -> int:
    return connection.execute("PRAGMA user_version").fetchone()[0]


def migrate(connection: sqlite3.Connection, migrations: list[tuple[str, ...]] = MIGRATIONS) -> int:
    """Bring the file to the latest version, one transaction per step; returns the version.

    `user_version` lives in the file header and is written in the same transaction as the
    step, so a power cut leaves either the old or the new version, never half of one.
    """
    version = schema_version(connection)
    if version > len(migrations):
        raise NewerSchemaError(f"log schema version {version} is newer than {len(migrations)}")
    for step in range(version, len(migrations)):
        with transaction(connection):
            for statement in migrations[step]:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {step + 1}")
    return len(migrations)


class transaction:
    """`BEGIN IMMEDIATE` … `COMMIT`, or `ROLLBACK` if the block raised."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            self.connection.execute("COMMIT")
            return
        try:
            self.connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. after SQLITE_FULL); keep the first error


def get_meta(connection: sqlite3.Connection, key: str) -> str | None:
    row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(connection: sqlite3.Connection, key: str, value: str) -> None:
    connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


# --- Repair -----------------------------------------------------------------------------
#
# A repair must survive a power cut at any moment, so the new file is built beside the
# damaged one and only swapped in when complete:
#
# 1. `NAME.repairing` is created, migrated, and filled with what can be read from the
#    damaged `NAME` (read-only: in place with its -wal, and as a copy with a rebuilt header,
#    see Salvage below); its meta `repaired_from` names the copy the damaged file will be
#    kept as; it is folded into one file (journal_mode DELETE) and fsynced.
# 2. The damaged file is renamed to that name (`move_aside`): the main file first, then
#    its -wal and -shm.
# 3. `NAME.repairing` is renamed to `NAME`, and the folder fsynced.
#
# Cut during 1: `NAME` is still the damaged file and the half-built copy is thrown away at
# the next open (`finish_repair`), which repairs again. Cut during 2 or before 3: `NAME`
# is gone and the complete copy is there: `finish_repair` moves what is left of the
# damaged file aside and renames the copy. The damaged file is never deleted.

REPAIRED_FROM = "repaired_from"   # meta key in a repaired file: the damaged copy's name


def repairing_path(path: Path) -> Path:
    return path.with_name(path.name + ".repairing")


def aside_path(path: Path, wall_time: Callable[[], float] = time.time) -> Path:
    """`NAME.corrupt-YYYYmmddTHHMMSSZ` (with `-2`, `-3`… if taken): where a damaged file goes."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_time()))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    return target


def move_aside(path: Path, wall_time: Callable[[], float] = time.time, *,
               target: Path | None = None) -> Path:
    """Rename a damaged file (and its -wal/-shm) to `target` (default: `aside_path`).

    Never deleted: it is the person's history, and a later tool may read more of it.
    The -wal goes with it because it may hold the newest sessions. The main file goes
    first: once it is gone, `finish_repair` knows the rest must follow.
    """
    target = target or aside_path(path, wall_time)
    os.replace(path, target)
    _move_companions(path, target)
    _sync_directory(path.parent)
    return target


def _move_companions(path: Path, target: Path) -> None:
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))


class Salvaged(NamedTuple):
    """What a repair copied from the damaged file."""

    sessions: int = 0   # copied, each with all of its zones
    zones: int = 0
    dropped: int = 0    # read, but not whole (zones missing, a bad value): left out


class Repaired(NamedTuple):
    aside: Path         # where the damaged file was kept
    salvaged: Salvaged


def repair(path: Path, connect: Callable[[Path], sqlite3.Connection],
           wall_time: Callable[[], float] = time.time) -> Repaired:
    """Replace the damaged file at `path` by a fresh one holding what could be read from it;
    returns where the damaged file was kept and what was copied. Safe against a cut at any
    point (see above). Raises (and leaves the damaged file in place) if the new file cannot
    be written: nothing is moved aside that was not copied.
    """
    scratch = repairing_path(path)
    _remove_scratch(scratch)
    aside = aside_path(path, wall_time)
    fresh = connect(scratch)
    try:
        migrate(fresh)
        salvaged = salvage(path, fresh)
        with transaction(fresh):
            set_meta(fresh, REPAIRED_FROM, aside.name)
        # Folds the WAL into the file: one file to rename, no stale -wal left behind.
        fresh.execute("PRAGMA journal_mode = DELETE")
    finally:
        fresh.close()
    fsync_path(scratch)
    move_aside(path, target=aside)
    os.replace(scratch, path)
    _sync_directory(path.parent)
    return Repaired(aside, salvaged)


def finish_repair(path: Path) -> bool:
    """At open: complete a repair a cut interrupted (True), or drop its half-built file."""
    _remove_scratch(salvage_copy_path(path))   # a salvage's working copy, left by a cut
    scratch = repairing_path(path)
    if not scratch.exists():
        return False
    aside = None if path.exists() else _repaired_from(scratch)
    if aside is None:
        # Cut while the copy was being built: the damaged file is still in place.
        _remove_scratch(scratch)
        return False
    _move_companions(path, path.with_name(aside))
    os.replace(scratch, path)
    _sync_directory(path.parent)
    return True


def _repaired_from(scratch: Path) -> str | None:
    """The damaged copy's name if `scratch` is a finished repair, else None."""
    try:
        db = sqlite3.connect(f"{scratch.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        name = get_meta(db, REPAIRED_FROM)
    except sqlite3.Error:
        return None
    finally:
        db.close()
    # Only a plain name in the same folder: never follow a path out of it.
    damaged_name = scratch.name[:-len(".repairing")]
    return name if name and "/" not in name and name.startswith(f"{damaged_name}.corrupt-") else None


def _remove_scratch(scratch: Path) -> None:
    """Our own half-built copy: never the damaged file, which is still in place."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        scratch.with_name(scratch.name + suffix).unlink(missing_ok=True)


def _sync_directory(folder: Path) -> None:
    """Best effort: make a rename survive a power cut, but never stop a repair over it."""
    try:
        fsync_path(folder)
    except OSError:
        pass


# --- Salvage ----------------------------------------------------------------------------
#
# Every session SQLite can still read is copied, each with all of its zones or not at all
# (`zone_count` says how many it has; a damaged page can hide some rows without an error).
# Two readings of the damaged file are combined: the file as it is (with its -wal), and a
# copy with a rebuilt 100-byte header (page size from the pages themselves, page count from
# the file size), which reads a file whose header alone was lost. The kept file is never
# written: the copy is ours (`NAME.salvage`), and removed afterwards.

def salvage_copy_path(path: Path) -> Path:
    return path.with_name(path.name + ".salvage")


def salvage(damaged: Path, fresh: sqlite3.Connection) -> Salvaged:
    """Copy every session (with all its zones) still readable from `damaged` into `fresh`.

    One transaction; each session in a savepoint of its own, so a row the fresh file refuses
    (a damaged value that breaks a constraint) costs that session only. Seqs are given afresh
    (the caller starts a new log_id) in the damaged file's order; the device id is kept if it
    can be read. Errors writing `fresh` are raised: a repair must not go on without its copy.
    """
    found: dict[str, _Found] = {}   # by session id: whole, from whichever reading had it whole
    dropped: set[str] = set()
    device_ids: list[str] = []
    try:
        for reading, source in enumerate(_readings(damaged)):
            try:
                device_id = _read_device_id(source)
                if device_id:
                    device_ids.append(device_id)
                for session in _readable_sessions(source, reading, _row_limit(damaged)):
                    if session.id in found:
                        continue
                    if session.whole:
                        found[session.id] = session
                    else:
                        dropped.add(session.id)
            finally:
                source.close()
    finally:
        _remove_scratch(salvage_copy_path(damaged))
    sessions = zones = refused = 0
    with transaction(fresh):
        for session in sorted(found.values(), key=lambda s: s.order):
            if _insert_session(fresh, session):
                sessions += 1
                zones += len(session.zones)
            else:
                refused += 1
        device_id = device_ids[0] if device_ids else None
        if not device_id:
            # Every session carries the device id: take it from them.
            row = fresh.execute("SELECT device_id FROM sessions GROUP BY device_id"
                                " ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
            device_id = row[0] if row else None
        if device_id:
            set_meta(fresh, "device_id", device_id)
    return Salvaged(sessions, zones, len(dropped - found.keys()) + refused)


class _Found(NamedTuple):
    id: str
    order: tuple[int, int]     # (which reading, rowid): the damaged file's order
    values: dict               # the session's columns (no seq)
    zones: list[tuple]         # ZONE_COLUMNS rows
    fixes: tuple[list[str], list[tuple]]   # date-fix columns and rows
    whole: bool
    end_reasons: list[tuple] = []          # (session_id, reason) rows: why the device ended it


def _readings(damaged: Path) -> Iterator[sqlite3.Connection]:
    """Read-only connections to the damaged file, then to a copy with a rebuilt header."""
    source = _open_read_only(damaged)
    if source is not None:
        yield source
    copy = salvage_copy_path(damaged)
    _remove_scratch(copy)
    try:
        _copy_with_rebuilt_header(damaged, copy)
    except OSError:
        return   # no room for a copy: what the file as it is gave is what we have
    source = _open_read_only(copy)
    if source is not None:
        yield source


def _open_read_only(path: Path) -> sqlite3.Connection | None:
    try:
        source = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        # Lets SQLite read a file shorter than its header says (a truncated file); the
        # connection is read-only, so nothing is written through it.
        source.execute("PRAGMA writable_schema = ON")
        return source
    except sqlite3.Error:
        return None


_BTREE_PAGE_FLAGS = (2, 5, 10, 13)   # the first byte of an index/table, interior/leaf page


def _copy_with_rebuilt_header(damaged: Path, copy: Path) -> None:
    """Copy `damaged` (and its -wal) to `copy`, then write a header as SQLite would for it."""
    shutil.copyfile(damaged, copy)
    wal = damaged.with_name(damaged.name + "-wal")
    has_wal = wal.exists()
    if has_wal:
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
    with open(copy, "r+b") as file:
        size = os.fstat(file.fileno()).st_size
        page_size = _page_size(file, size)
        file.seek(0)
        file.write(_header(page_size, max(1, size // page_size), wal=has_wal))


def _page_size(file, size: int) -> int:
    """The smallest page size at which (nearly) every page starts like a b-tree page; the
    header's own value is not trusted (it may be what was damaged). Default 4096."""
    scores = {}
    for page_size in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
        pages = size // page_size
        if pages < 2:
            continue
        numbers = range(1, pages, max(1, (pages - 1) // 64))   # at most ~64 pages looked at
        looks_like_btree = 0
        for number in numbers:
            file.seek(number * page_size)
            looks_like_btree += file.read(1)[:1] in [bytes([flag]) for flag in _BTREE_PAGE_FLAGS]
        scores[page_size] = looks_like_btree / len(numbers)
    best = max(scores.values(), default=0.0)
    if best == 0.0:
        return 4096
    return min(page_size for page_size, score in scores.items() if score >= 0.9 * best)


def _header(page_size: int, page_count: int, *, wal: bool) -> bytes:
    """A database header (https://www.sqlite.org/fileformat.html#the_database_header) for the
    settings this project's files have: UTF-8, no reserved bytes, no auto-vacuum. The free
    list is left empty: its pages are not read, and the file is only read."""
    header = bytearray(100)
    header[0:16] = b"SQLite format 3\0"
    struct.pack_into(">H", header, 16, 1 if page_size == 65536 else page_size)
    header[18] = header[19] = 2 if wal else 1          # WAL or rollback journal
    header[20:24] = bytes((0, 64, 32, 32))             # reserved bytes, payload fractions
    struct.pack_into(">II", header, 24, 1, page_count)  # change counter, size in pages
    struct.pack_into(">I", header, 40, 1)               # schema cookie
    struct.pack_into(">I", header, 44, 4)               # schema format
    struct.pack_into(">I", header, 56, 1)               # UTF-8
    struct.pack_into(">II", header, 92, 1, sqlite3.sqlite_version_info[0] * 1_000_000
                     + sqlite3.sqlite_version_info[1] * 1000 + sqlite3.sqlite_version_info[2])
    return bytes(header)


def _read_device_id(source: sqlite3.Connection) -> str | None:
    try:
        return get_meta(source, "device_id") if _has_table(source, "meta") else None
    except sqlite3.DatabaseError:
        return None   # found again from the sessions themselves


def _row_limit(damaged: Path) -> int:
    """More session rows than the file can hold (a row takes more than 64 bytes): a bound
    for the rowid lookups when a damaged page gives a rowid that is far out."""
    try:
        return max(1000, damaged.stat().st_size // 64)
    except OSError:
        return 1000


def _readable_sessions(source: sqlite3.Connection, reading: int, row_limit: int) -> Iterator[_Found]:
    columns = _shared_columns(source, "sessions", (*SESSION_COLUMNS, "zone_count"))
    if "id" not in columns:
        return
    counted = "zone_count" in columns
    if "seq" in columns:
        columns.remove("seq")   # given afresh
    # Zones have had the same columns since version 1.
    fix_columns = _shared_columns(source, "sync_date_fixes", DATE_FIX_COLUMNS)
    reason_columns = _shared_columns(source, "session_end_reasons", ("session_id", "reason"))
    for rowid, row in _readable_rows(source, columns, row_limit):
        values = dict(zip(columns, row))
        zone_count = values.pop("zone_count", None)
        session_id = values["id"]
        zones = _session_rows(source, "zones", ZONE_COLUMNS, session_id) or []
        # Before version 4 the count was not kept: then only a gap in the positions shows.
        expected = zone_count if counted else len(zones)
        whole = (isinstance(expected, int) and len(zones) == expected > 0
                 and {zone[_POSITION] for zone in zones} == set(range(expected)))
        # Without its date-fix row a fixed session still has its fixed dates; only the note
        # of the fix is lost, so the session is kept.
        fixes = _session_rows(source, "sync_date_fixes", fix_columns, session_id) or []
        # Likewise the reason the device ended it: without it, it is still ended early. A
        # damaged reason is left out rather than cost the session.
        reasons = [row for row in _session_rows(source, "session_end_reasons", reason_columns, session_id) or []
                   if len(row) == 2 and row[1] in END_REASONS]
        yield _Found(session_id, (reading, rowid), values, zones, (fix_columns, fixes), whole, reasons)


def _insert_session(fresh: sqlite3.Connection, session: _Found) -> bool:
    """One session with its zones and date fix, or nothing (False) if the file refuses a row."""
    values = {**session.values, "zone_count": len(session.zones)}
    if values.get("outcome") is not None:
        values["seq"] = fresh.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM sessions").fetchone()[0]
    fresh.execute("SAVEPOINT salvage_one")
    try:
        fresh.execute(f"INSERT INTO sessions ({', '.join(values)}) VALUES "
                      f"({', '.join('?' * len(values))})", tuple(values.values()))
        _insert(fresh, "zones", ZONE_COLUMNS, session.zones)
        fix_columns, fixes = session.fixes
        _insert(fresh, "sync_date_fixes", fix_columns, fixes)
        _insert(fresh, "session_end_reasons", ("session_id", "reason"), session.end_reasons)
    except sqlite3.IntegrityError:   # NOT NULL, CHECK, a duplicate: a damaged value
        fresh.execute("ROLLBACK TO salvage_one")
        fresh.execute("RELEASE salvage_one")
        return False
    fresh.execute("RELEASE salvage_one")
    return True


def _shared_columns(source: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> list[str]:
    """Which of `columns` the damaged file's `table` has; none if it has no such table."""
    try:
        available = {row[1] for row in source.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        return []
    return [c for c in columns if c in available]


def _session_rows(source: sqlite3.Connection, table: str, columns: Sequence[str],
                  session_id: str) -> list[tuple] | None:
    """One session's rows of `table` in the damaged file; None if they cannot be read.

    `session_id` (the first of `columns`) is given as asked, not read back: it is the key the
    rows were found by, and a damaged byte in one row's copy of it (a tree out of order still
    gives that row for the key) must not cost the session whose values are all there."""
    if not columns or columns[0] != "session_id":
        return []
    try:
        # Bounded: a damaged tree can lead a walk in circles.
        rows = source.execute(f"SELECT {', '.join(columns[1:])} FROM {table} WHERE session_id = ?",
                              (session_id,)).fetchmany(4096)
    except sqlite3.DatabaseError:
        return None
    return [(session_id, *row) for row in rows]


def _insert(fresh: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    if rows:
        fresh.executemany(f"INSERT INTO {table} ({', '.join(columns)})"
                          f" VALUES ({', '.join('?' * len(columns))})", rows)


def end_reasons(connection: sqlite3.Connection) -> dict[str, str]:
    """Session id -> why the device ended it, for the sessions it ended itself."""
    if not _has_table(connection, "session_end_reasons"):
        return {}
    return dict(connection.execute("SELECT session_id, reason FROM session_end_reasons"))


def _has_table(connection: sqlite3.Connection, name: str) -> bool:
    return connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


# Past the last row found, how many rowids are tried before the end is taken as reached.
_ROWIDS_PAST_THE_END = 64


def _readable_rows(source: sqlite3.Connection, columns: list[str],
                   row_limit: int) -> Iterator[tuple[int, tuple]]:
    """(rowid, row) for every session row SQLite can reach, in rowid order.

    A walk stops at the first unreadable page, so the table is walked from both ends, its
    indexes (separate pages) are walked for rowids, and then every rowid up to the largest
    seen is looked up on its own: rowids are dense (sessions are never deleted), and a
    lookup goes down the tree by its own path, which may avoid the damaged page.

    A damaged cell can give the rowid of another row (its own rowid bytes hit): every row a
    walk gives for a rowid is kept, the one the lookup of that rowid finds first, so the
    damaged one cannot hide the row it claims the rowid of.
    """
    listed = ", ".join(columns)
    rows: dict[int, list[tuple]] = {}
    for order in ("ASC", "DESC"):
        for rowid, *row in _until_error(
                source, f"SELECT rowid, {listed} FROM sessions ORDER BY rowid {order}", row_limit):
            found = rows.setdefault(rowid, [])
            if tuple(row) not in found:
                found.append(tuple(row))
    seen = set(rows)
    try:
        indexes = [row[0] for row in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'")]
    except sqlite3.DatabaseError:
        indexes = []
    for index in indexes:
        # In the index's own order, so the walk reads it as it goes (no sort to wait for).
        keys = [row[2] for row in _until_error(source, f'PRAGMA index_info("{index}")', 16)]
        for order in ("ASC", "DESC") if keys and None not in keys else ():
            by = ", ".join(f'"{key}" {order}' for key in keys)
            seen.update(row[0] for row in _until_error(
                source, f'SELECT rowid FROM sessions INDEXED BY "{index}" ORDER BY {by}', row_limit))
    seen = {rowid for rowid in seen if isinstance(rowid, int) and 0 < rowid <= row_limit}
    rows = {rowid: found for rowid, found in rows.items() if rowid in seen}
    query = f"SELECT {listed} FROM sessions WHERE rowid = ?"
    rowid, last, misses = 0, max(seen, default=0), 0
    while rowid < row_limit and (rowid < last or misses < _ROWIDS_PAST_THE_END):
        rowid += 1
        found = rows.get(rowid, [])
        if len(found) == 1:
            misses = 0
            continue
        try:
            row = source.execute(query, (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            misses += not found
            continue
        misses = 0
        rows[rowid] = [row, *(other for other in found if other != row)]
        last = max(last, rowid)
    for rowid in sorted(rows):
        for row in rows[rowid]:
            yield rowid, row


def _until_error(source: sqlite3.Connection, query: str, limit: int) -> list[tuple]:
    """The rows `query` gives before it meets an unreadable page; at most `limit` (a damaged
    tree can lead a walk in circles)."""
    rows = []
    try:
        for row in source.execute(query):
            rows.append(row)
            if len(rows) >= limit:
                break
    except sqlite3.DatabaseError:
        pass
    return rows


# --- Reading ----------------------------------------------------------------------------

NEWEST_FIRST = "s.wall_start DESC, s.rowid DESC"


def read_sessions(connection: sqlite3.Connection, *, since: float | None = None,
                  limit: int | None = None, after_seq: int | None = None) -> list[SessionRecord]:
    """Sessions with their zones: newest first (by start), `since` in Unix seconds;
    or, with `after_seq`, the finalised sessions above that seq, lowest seq first.

    `after_seq` is how the device reads by sequence (the sync's batches): it walks the
    seq index, so a batch costs the same however long the log is.
    """
    return list(iter_sessions(connection, since=since, limit=limit, after_seq=after_seq))


def iter_sessions(connection: sqlite3.Connection, *, since: float | None = None,
                  limit: int | None = None, after_seq: int | None = None) -> Iterator[SessionRecord]:
    """As `read_sessions`, one session at a time as the caller takes them: a long log is never
    in memory whole (`facepace log` on 100,000 sessions, on a Pi's 512 MB)."""
    if after_seq is not None:
        return _read(connection, "WHERE s.seq > ?", [after_seq], "s.seq", limit)
    if since is not None:
        return _read(connection, "WHERE s.wall_start >= ?", [since], NEWEST_FIRST, limit)
    return _read(connection, "", [], NEWEST_FIRST, limit)


def read_fixed_at_sync(connection: sqlite3.Connection) -> set[str]:
    """Ids of the sessions whose dates a sync fixed (device.log.clockfix)."""
    return {row[0] for row in connection.execute("SELECT session_id FROM sync_date_fixes")}


def read_open_sessions(connection: sqlite3.Connection) -> list[SessionRecord]:
    return list(_read(connection, "WHERE s.outcome IS NULL", [], "s.rowid", None))


# Sessions read at a time, with one query for all of their zones.
_CHUNK = 64


def _read(connection: sqlite3.Connection, where: str, params: list, order: str,
          limit: int | None) -> Iterator[SessionRecord]:
    """The sessions in the order of an index, a few at a time, each few with their zones (one
    query): nothing is gathered first, so the caller holds only the sessions it keeps."""
    limit_sql = "LIMIT ?" if limit is not None else ""
    if limit is not None:
        params = [*params, limit]
    sessions = connection.execute(f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions AS s {where}"
                                  f" ORDER BY {order} {limit_sql}", params)
    try:
        while chunk := sessions.fetchmany(_CHUNK):
            zones = _zones_of(connection, [row[0] for row in chunk])
            for row in chunk:
                yield record_from_row(row, zones.get(row[0], ()))
    finally:
        sessions.close()   # one left unfinished would hold its read transaction open


def _zones_of(connection: sqlite3.Connection, session_ids: list[str]) -> dict[str, list[ZoneProgress]]:
    zones: dict[str, list[ZoneProgress]] = {}
    for session_id, zone_id, planned, done, skipped in connection.execute(
            "SELECT session_id, zone_id, planned_seconds, done_seconds, skipped FROM zones"
            f" WHERE session_id IN ({', '.join('?' * len(session_ids))}) ORDER BY session_id, position",
            session_ids):
        zones.setdefault(session_id, []).append(ZoneProgress(zone_id, planned, done, bool(skipped)))
    return zones


def read_sessions_json(connection: sqlite3.Connection, *, since: float | None = None,
                       limit: int | None = None) -> Iterator[str]:
    """Like `read_sessions(...)[i].as_dict()` plus `date_quality`, `start_local` and `end_local`
    (device.log.session_columns.session_fields), as JSON texts built by SQLite (`session_json`),
    one at a time as the caller takes them. A test checks that both readers agree.
    """
    where, params = ("WHERE s.wall_start >= ?", [since]) if since is not None else ("", [])
    limit_sql = "LIMIT ?" if limit is not None else ""
    if limit is not None:
        params.append(limit)
    # As device.log.session_columns.date_quality says.
    quality = ("CASE WHEN s.id IN (SELECT session_id FROM sync_date_fixes) THEN 'host'"
               " WHEN s.wall_trusted THEN 'clock' ELSE 'estimated' END")
    query = (f"SELECT {session_json(quality, zones_match='z.session_id = s.id')}"
             f" FROM sessions AS s {where} ORDER BY {NEWEST_FIRST} {limit_sql}")
    rows = connection.execute(query, params)
    try:
        for (text,) in rows:
            yield text
    finally:
        rows.close()


def session_json(date_quality: str, *, zones_match: str) -> str:
    """SQL for session `s` (a row of a table with SESSION_COLUMNS) as one JSON object of an
    export: its columns, `date_quality` (SQL given), `start_local`, `end_local` and `zones` (the
    rows of a `zones` table, alias `z`, that `zones_match`, in the order of its primary key, which
    ends in `position`). SQLite builds it: three times faster
    than building objects in Python (10,000 sessions in about 0.25 s here), and the device's log
    and the computer's copy of it give the same text. Times are local to the system (TZ); REALs
    keep 15 significant digits (SQLite's JSON; 1e-5 s of a wall time).
    """
    boolean = "json(CASE WHEN {} THEN 'true' ELSE 'false' END)"
    value = {"wall_trusted": boolean.format("s.wall_trusted")}
    fields = ", ".join(f"'{name}', {value.get(name, 's.' + name)}" for name in SESSION_COLUMNS)
    zones = (
        "(SELECT json_group_array(json_object('zone_id', z.zone_id, 'planned_seconds',"
        " z.planned_seconds, 'done_seconds', z.done_seconds, 'skipped', "
        + boolean.format("z.skipped") + f")) FROM zones AS z WHERE {zones_match})"
    )
    return (f"json_object({fields}, 'date_quality', {date_quality},"
            f" 'start_local', {_local_iso('s.wall_start')}, 'end_local', {_local_iso('s.wall_end')},"
            f" 'zones', {zones})")


def _local_iso(column: str) -> str:
    """SQL for "2024-03-31T23:45:00+02:00" in the system's local time; NULL stays NULL."""
    minutes = (f"CAST(round((julianday({column}, 'unixepoch', 'localtime')"
               f" - julianday({column}, 'unixepoch')) * 1440) AS INTEGER)")
    return (f"(strftime('%Y-%m-%dT%H:%M:%S', {column}, 'unixepoch', 'localtime')"
            f" || (SELECT printf('%+03d:%02d', m / 60, abs(m) % 60) FROM (SELECT {minutes} AS m)))")


def record_from_row(row: Sequence, zones: Iterable[ZoneProgress]) -> SessionRecord:
    """A row of SESSION_COLUMNS (in that order) from any session table, as a record."""
    values = dict(zip(SESSION_COLUMNS, row))
    values["wall_trusted"] = bool(values["wall_trusted"])
    return SessionRecord(**values, zones=tuple(zones))


# --- What the screens need, added up by SQLite -------------------------------------------------
# The idle screen's overview and the weekly goal need a few numbers of each session, never its
# zones: reading whole records of a 10,000-session log cost about 0.4 s of a Pi's CPU each time
# (issue 12), with the log's lock held. These read only those numbers, and only as far back as
# the screen needs.

class Brief(NamedTuple):
    """A session as `history.overview` reads it."""

    id: str
    wall_start: float
    active_seconds: float
    outcome: str | None


def local_day_sql(connection: sqlite3.Connection, column: str, tz) -> str:
    """SQL for the ISO date of Unix time `column` in `tz`, as `datetime.fromtimestamp(t, tz).date()`
    gives it: SQLite's own 'localtime' for the system's zone (tz None: both ask the C library),
    else a function on this connection (tests and tools that name a zone)."""
    if tz is None:
        return f"date({column}, 'unixepoch', 'localtime')"
    connection.create_function(
        "facepace_local_day", 1, lambda wall: datetime.fromtimestamp(wall, tz).date().isoformat(),
        deterministic=True)
    return f"facepace_local_day({column})"


def _not_in(column: str, ids: Sequence[str]) -> str:
    return f" AND {column} NOT IN ({', '.join('?' * len(ids))})" if ids else ""


def read_briefs(connection: sqlite3.Connection, *, since: float, limit: int | None = None,
                skip_ids: Sequence[str] = ()) -> list[Brief]:
    """Sessions started at `since` or later, newest first (as `read_sessions`), without zones."""
    limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
    return [Brief(*row) for row in connection.execute(
        f"SELECT s.id, s.wall_start, s.active_seconds, s.outcome FROM sessions AS s WHERE s.wall_start >= ?"
        f"{_not_in('s.id', skip_ids)} ORDER BY {NEWEST_FIRST}{limit_sql}", [since, *skip_ids])]


def read_day_heads(connection: sqlite3.Connection, *, since: float, where: str, tz,
                   before: float | None = None, limit: int | None = None,
                   skip_ids: Sequence[str] = ()) -> list[Brief]:
    """Of the sessions started in [since, before) that match `where` (SQL on `s`), the newest
    of each day in `tz` (None: the system's zone), newest first: one row a day however many
    sessions it had."""
    bound, params = ("", []) if before is None else (" AND s.wall_start < ?", [before])
    limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
    # SQLite gives a bare column's value from the row where max() found its maximum.
    rows = connection.execute(
        f"SELECT s.id, max(s.wall_start), s.active_seconds, s.outcome FROM sessions AS s"
        f" WHERE s.wall_start >= ?{bound} AND ({where}){_not_in('s.id', skip_ids)}"
        f" GROUP BY {local_day_sql(connection, 's.wall_start', tz)} ORDER BY 2 DESC{limit_sql}",
        [since, *params, *skip_ids])
    return [Brief(*row) for row in rows]


def count_from_day(connection: sqlite3.Connection, first_day, *, tz, since: float,
                   skip_ids: Sequence[str] = ()) -> tuple[int, float]:
    """(sessions, active seconds) of those started on `first_day` (a date in `tz`) or later,
    dated after now too; `since` is any Unix time before that day began (it bounds the read)."""
    count, seconds = connection.execute(
        f"SELECT count(*), total(s.active_seconds) FROM sessions AS s WHERE s.wall_start >= ?"
        f" AND {local_day_sql(connection, 's.wall_start', tz)} >= ?{_not_in('s.id', skip_ids)}",
        [since, first_day.isoformat(), *skip_ids]).fetchone()
    return count, seconds


class GoalDay(NamedTuple):
    """A day's sessions as the weekly goal adds them up (`goals.Tally.add_day`)."""

    day: str                  # ISO date in the goal's time zone
    sessions: int
    active_seconds: float
    counted: bool             # a session on it counts (the SQL `counts` given)


PLANNED_SQL = "(SELECT total(z.planned_seconds) FROM zones AS z WHERE z.session_id = s.id)"


def read_goal_days(connection: sqlite3.Connection, *, first_day, since: float, tz, counts: str,
                   before_day=None, skip_ids: Sequence[str] = ()) -> list[GoalDay]:
    """Of the sessions started from `first_day` on (to `before_day`; dates in `tz`), one row a
    day, added up by SQLite; `since` is any Unix time before `first_day` began (it bounds the
    read). `counts` is the goal's rule as SQL on `s` (`PLANNED_SQL` gives a session's plan)."""
    day = local_day_sql(connection, "s.wall_start", tz)
    bound, params = _before_day(day, before_day)
    return [GoalDay(*row[:3], bool(row[3])) for row in connection.execute(
        f"SELECT {day} AS day, count(*), total(s.active_seconds), max({counts}) FROM sessions AS s"
        f" WHERE s.wall_start >= ? AND day >= ?{bound}{_not_in('s.id', skip_ids)} GROUP BY day",
        [since, first_day.isoformat(), *params, *skip_ids])]


def _before_day(day_sql: str, before_day) -> tuple[str, list]:
    return ("", []) if before_day is None else (f" AND {day_sql} < ?", [before_day.isoformat()])


def count_by_routine(connection: sqlite3.Connection, *, first_day, since: float, tz, where: str,
                     before_day=None, skip_ids: Sequence[str] = ()) -> dict[str, int]:
    """{routine name: how many of its sessions started from `first_day` on (to `before_day`, a
    date in `tz` too, if given) match `where` (SQL on `s`)}; `since` as in `read_goal_days`."""
    day = local_day_sql(connection, "s.wall_start", tz)
    bound, params = _before_day(day, before_day)
    return dict(connection.execute(
        f"SELECT s.routine_name, count(*) FROM sessions AS s WHERE s.wall_start >= ? AND {day} >= ?{bound}"
        f" AND ({where}){_not_in('s.id', skip_ids)} GROUP BY s.routine_name",
        [since, first_day.isoformat(), *params, *skip_ids]))


def date_fixes_mark(connection: sqlite3.Connection) -> tuple:
    """A mark of the date fixes (`clockfix`): any fix, first or again, changes it (a fix adds a
    row or moves a row's `fixed_wall` to the host's time)."""
    return tuple(connection.execute("SELECT count(*), total(shift), total(end_shift), max(fixed_wall)"
                                    " FROM sync_date_fixes").fetchone())
