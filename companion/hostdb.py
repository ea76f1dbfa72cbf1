"""The computer's database of synced sessions: several devices in one file.

Sessions are keyed by (device_id, id), so a batch received twice (a lost ACK, a
repaired device log that numbers its sessions again) is never stored twice. Each batch
is stored, together with the new cursor, in one transaction (a sync stores the batches of
about half a second in one): after a cut at any byte the database holds whole batches and
the cursor that goes with them. Only sessions
already checked (device.sync.protocol.decode_batch) are stored: every reader of this
file (`facepace history`, `report`) may rely on their fields.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import date, tzinfo
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import platformdirs

from device.log import goals, logdb
from device.base.errors import FacepaceError
from device.log.logdb import SessionRecord, ZoneProgress
from device.sync.protocol import SESSION_FIELDS

DB_NAME = "synced.db"

MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        """CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            firmware TEXT,
            last_sync_wall REAL
        ) WITHOUT ROWID""",
        """CREATE TABLE cursors (           -- last seq stored, per device log file
            device_id TEXT NOT NULL,
            log_id TEXT NOT NULL,
            last_seq INTEGER NOT NULL,
            PRIMARY KEY (device_id, log_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE sessions (
            device_id TEXT NOT NULL,
            id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            routine_name TEXT NOT NULL,
            routine_hash TEXT NOT NULL,
            intensity INTEGER NOT NULL,
            wall_start REAL NOT NULL,
            wall_end REAL,
            wall_checkpoint REAL,
            wall_trusted INTEGER NOT NULL,
            boot_id TEXT NOT NULL,
            mono_start REAL NOT NULL,
            active_seconds REAL NOT NULL,
            outcome TEXT,
            date_quality TEXT NOT NULL,     -- clock, host (fixed at sync) or estimated
            PRIMARY KEY (device_id, id)
        )""",
        "CREATE INDEX sessions_by_start ON sessions (wall_start)",
        """CREATE TABLE zones (
            device_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            zone_id TEXT NOT NULL,
            planned_seconds REAL NOT NULL,
            done_seconds REAL NOT NULL,
            skipped INTEGER NOT NULL,
            PRIMARY KEY (device_id, session_id, position)
        ) WITHOUT ROWID""",
    ),
    # Version 2 (sync protocol 2): the device's monotonic end of each session.
    ("ALTER TABLE sessions ADD COLUMN mono_end REAL",),
]

_SESSION_COLUMNS = SESSION_FIELDS[:-1]          # the log's columns and date_quality
_NEWEST_FIRST = "wall_start DESC, device_id, id"
_IDS_PER_QUERY = 500   # bound parameters in one query, well under SQLite's limit
_UPSERT = (f"INSERT INTO sessions ({', '.join(_SESSION_COLUMNS)}) VALUES"
           f" ({', '.join('?' * len(_SESSION_COLUMNS))}) ON CONFLICT (device_id, id) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in _SESSION_COLUMNS if c not in ("device_id", "id")))


class DayTotal(NamedTuple):
    """The sessions that started on one local day (`HostDb.day_totals`)."""

    day: date
    sessions: int
    active_seconds: float
    estimated: int             # of them, with estimated dates
    counted: bool              # one of them counts for the weekly goal (`goals.counts`)


class HostDbError(FacepaceError):
    """The host database cannot be used (`file` is the database)."""


def default_path() -> Path:
    return Path(platformdirs.user_data_dir("facepace", appauthor=False)) / DB_NAME


class HostDb:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The device log's durability settings: WAL, a full fsync per commit.
            self._db = logdb.connect(self.path, busy_timeout=5.0)
            self._migrate()
        except (sqlite3.Error, OSError) as error:
            raise HostDbError(f"cannot open the sync database ({error})", file=self.path) from None

    @classmethod
    def open(cls, path: Path | None = None) -> "HostDb":
        return cls(path or default_path())

    def close(self) -> None:
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            db.close()

    def __enter__(self) -> "HostDb":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _migrate(self) -> None:
        try:
            logdb.migrate(self._db, MIGRATIONS)   # the device log's migrator, our list
        except logdb.NewerSchemaError:
            raise HostDbError("written by a newer facepace; update it", file=self.path) from None

    # --- Identity and cursors -----------------------------------------------------------

    @property
    def host_id(self) -> str:
        """This database's id: the device keeps one acknowledged seq per host id."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'host_id'").fetchone()
        if row is not None:
            return row[0]
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('host_id', ?)", (str(uuid.uuid4()),))
        return self.host_id

    def cursor(self, device_id: str, log_id: str) -> int:
        row = self._db.execute("SELECT last_seq FROM cursors WHERE device_id = ? AND log_id = ?",
                               (device_id, log_id)).fetchone()
        return 0 if row is None else row[0]

    def note_device(self, device_id: str, firmware: str, wall: float) -> None:
        self._db.execute("INSERT OR REPLACE INTO devices VALUES (?, ?, ?)", (device_id, firmware, wall))

    # --- Storing ------------------------------------------------------------------------

    def store_batch(self, device_id: str, log_id: str, sessions: Sequence[tuple[SessionRecord, str]],
                    last_seq: int) -> tuple[int, int]:
        """Store checked (record, date_quality) pairs and set the cursor, all or nothing;
        returns (new, already had)."""
        return self.store_batches(device_id, log_id, [(sessions, last_seq)])

    def store_batches(self, device_id: str, log_id: str,
                      batches: Sequence[tuple[Sequence[tuple[SessionRecord, str]], int]]) -> tuple[int, int]:
        """Store consecutive checked batches, each (sessions, its last seq), and set the cursor to
        the last one's, all in one transaction (one commit, one fsync); returns (new, already had)."""
        received = [session for batch, _ in batches for session in batch]
        # A session sent again in a later batch (finalised again: a new seq) is stored as it came last.
        sessions = list({record.id: (record, quality) for record, quality in received}.values())
        ids = [record.id for record, _ in sessions]
        try:
            with logdb.transaction(self._db) as db:
                had = set()
                for start in range(0, len(ids), _IDS_PER_QUERY):
                    some = ids[start:start + _IDS_PER_QUERY]
                    had.update(row[0] for row in db.execute(
                        f"SELECT id FROM sessions WHERE device_id = ? AND id IN ({', '.join('?' * len(some))})",
                        [device_id, *some]))
                # In key order: the sessions' ids are random, so rows in order of the tables' keys
                # fill each page once per transaction instead of coming back to it.
                db.executemany(_UPSERT, sorted(
                    [getattr(record, name) for name in _SESSION_COLUMNS[:-1]] + [quality]
                    for record, quality in sessions))
                # A session seen before may come with fixed dates: its zones are replaced whole.
                db.executemany("DELETE FROM zones WHERE device_id = ? AND session_id = ?",
                               [(device_id, i) for i in had])
                db.executemany("INSERT INTO zones VALUES (?, ?, ?, ?, ?, ?, ?)", sorted(
                    (device_id, record.id, position, *zone)
                    for record, _ in sessions for position, zone in enumerate(record.zones)))
                # Exactly the last batch's: a cursor that a lying device pushed too far is set back
                # by the next honest sync (companion.sync_client).
                db.execute("INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (device_id, log_id)"
                           " DO UPDATE SET last_seq = excluded.last_seq", (device_id, log_id, batches[-1][1]))
        except sqlite3.Error as error:
            raise HostDbError(f"cannot store the sessions ({error}); nothing of the batches since the"
                              " last one stored was stored, sync again", file=self.path) from None
        new = len(sessions) - len(had)
        return new, len(received) - new

    # --- Reading ------------------------------------------------------------------------

    def sessions(self, *, device_id: str | None = None) -> list[tuple[SessionRecord, str]]:
        """(record, date_quality) pairs, newest first."""
        return list(self.iter_sessions(device_id=device_id))

    def iter_sessions(self, *, device_id: str | None = None,
                      zones: bool = True) -> Iterator[tuple[SessionRecord, str]]:
        """As `sessions`, one at a time as the caller takes them (a long history is never in
        memory whole); `zones=False` leaves each record's zones empty, for a caller that adds
        them up in SQL (`zone_seconds`)."""
        where, params = self._device_filter(device_id)
        rows = self._db.execute(f"SELECT {', '.join(_SESSION_COLUMNS)} FROM sessions {where}"
                                f" ORDER BY {_NEWEST_FIRST}", params)
        try:
            for row in rows:
                *columns, quality = row
                yield logdb.record_from_row(columns, self._zones(row[2], row[0]) if zones else ()), quality
        finally:
            rows.close()

    def sessions_json(self, *, device_id: str | None = None) -> Iterator[str]:
        """Newest first, each as the JSON object of an export, built by SQLite as the device's
        `log --json` builds it (`logdb.session_json`), one at a time."""
        where, params = self._device_filter(device_id, alias="s")
        json_sql = logdb.session_json("s.date_quality",
                                      zones_match="z.device_id = s.device_id AND z.session_id = s.id")
        rows = self._db.execute(f"SELECT {json_sql} FROM sessions AS s {where}"
                                f" ORDER BY {_NEWEST_FIRST}", params)
        try:
            for (text,) in rows:
                yield text
        finally:
            rows.close()

    def goal_sessions(self, *, device_id: str | None = None) -> Iterator[goals.Done]:
        """Each session as the weekly goal sees it (start, active and planned seconds, the plan
        added up by SQLite), one at a time: the report's goal without reading every zone."""
        where, params = self._device_filter(device_id, alias="s")
        rows = self._db.execute(
            "SELECT s.wall_start, s.active_seconds, (SELECT TOTAL(z.planned_seconds) FROM zones AS z"
            f" WHERE z.device_id = s.device_id AND z.session_id = s.id) FROM sessions AS s {where}", params)
        try:
            for row in rows:
                yield goals.Done(*row)
        finally:
            rows.close()

    def zone_seconds(self, *, device_id: str | None = None) -> dict[tuple[str, str], float]:
        """Seconds done per (routine name, zone id), added up by SQLite: the report's zone bars
        without reading every zone into Python."""
        where, params = self._device_filter(device_id, alias="s")
        routines = [name for name, in self._db.execute(f"SELECT DISTINCT routine_name FROM sessions AS s {where}",
                                                      params).fetchall()]
        # One routine at a time: SQLite groups by sorting, and sorting each routine's zones by zone
        # alone is about twice as fast as sorting them all by (routine, zone) (10,000 sessions:
        # ~50 against ~100 ms here). Sessions outside, one search of the zones' key each.
        found = {}
        for routine in routines:
            found.update(((routine, zone), seconds) for zone, seconds in self._db.execute(
                "SELECT z.zone_id, SUM(z.done_seconds) FROM sessions AS s CROSS JOIN zones AS z"
                " ON z.device_id = s.device_id AND z.session_id = s.id"
                f" {where + ' AND' if where else 'WHERE'} s.routine_name = ? GROUP BY z.zone_id",
                (*params, routine)))
        return found

    def _zones(self, device_id: str, session_id: str) -> list[ZoneProgress]:
        return [ZoneProgress(zone_id, planned, done, bool(skipped)) for zone_id, planned, done, skipped in
                self._db.execute("SELECT zone_id, planned_seconds, done_seconds, skipped FROM zones"
                                 " WHERE device_id = ? AND session_id = ? ORDER BY position",
                                 (device_id, session_id))]

    @staticmethod
    def _device_filter(device_id: str | None, alias: str = "") -> tuple[str, tuple]:
        column = f"{alias}.device_id" if alias else "device_id"
        return (f"WHERE {column} = ?", (device_id,)) if device_id else ("", ())

    def state(self) -> tuple:
        """Changes whenever a transaction has been committed to the file by any connection: it
        lands in the write-ahead log, or in the file itself at a checkpoint. (An empty log, as
        each reader's open leaves it, tells nothing.)"""
        found = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                stat = path.stat()
            except FileNotFoundError:
                found.append(None)
                continue
            found.append((stat.st_mtime_ns, stat.st_size) if stat.st_size else None)
        return tuple(found)

    def day_totals(self, *, device_id: str | None = None, tz: tzinfo | None = None) -> list[DayTotal]:
        """One row per local day in `tz` (None: the system's) that has sessions, added up by
        SQLite: what the calendar and the weekly goal need, without a row per session in Python.
        The day is the goal's own (`goals.local_day`, called by SQLite), the counting rule the
        device's (`goals.counts_sql`), each session's plan its zones' planned seconds (read only
        for a session too short to count without it)."""
        self._db.create_function("goal_day", 1, lambda wall: goals.local_day(wall, tz).toordinal(),
                                 deterministic=True)
        where, params = self._device_filter(device_id, alias="s")
        planned = ("(SELECT TOTAL(z.planned_seconds) FROM zones AS z WHERE z.device_id = s.device_id"
                   " AND z.session_id = s.id)")
        rows = self._db.execute(
            "SELECT goal_day(s.wall_start) AS day, COUNT(*), TOTAL(s.active_seconds),"
            f" TOTAL(s.date_quality = 'estimated'), MAX({goals.counts_sql('s.active_seconds', planned)})"
            f" FROM sessions AS s {where} GROUP BY day ORDER BY day", params)
        return [DayTotal(date.fromordinal(day), sessions, active, int(estimated), bool(counted))
                for day, sessions, active, estimated, counted in rows]

    def routine_sessions(self, *, device_id: str | None = None) -> list[tuple[str, int]]:
        """(routine name, its sessions), the routine run most recently first."""
        where, params = self._device_filter(device_id)
        return [(name, count) for name, count, _ in self._db.execute(
            f"SELECT routine_name, COUNT(*), MAX(wall_start) AS newest FROM sessions {where}"
            " GROUP BY routine_name ORDER BY newest DESC", params)]

    def devices(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT device_id FROM devices ORDER BY device_id")]

    def device_notes(self) -> list[tuple[str, str, float]]:
        """(device id, firmware, Unix time of its last sync) of every device synced here."""
        return list(self._db.execute("SELECT device_id, firmware, last_sync_wall FROM devices ORDER BY device_id"))

