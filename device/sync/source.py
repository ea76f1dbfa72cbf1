"""What the sync server may see and change in the device's session log, and nothing more.

Reads go through a read-only connection of their own (WAL lets it read while the
firmware writes a session), about a batch of sessions at a time: the server never loads
the whole log. A batch's sessions are read as plain rows in the order BATCH carries their
fields (two queries a batch: the sessions, then all of their zones, in one read
transaction) and encoded straight to JSON, with no records in between: on a Pi-like CPU
that is what a first sync costs. Every write (an
acknowledgement, a date fix) goes through `SessionLog` itself, under its lock, so in the
firmware it waits for the recorder's write and the recorder for it; neither fails for
the other. From `facepace sync-serve`, a second process, the two sides wait for each
other through SQLite's busy timeout; a recorder that still finds the file busy keeps
the session in memory and writes it at its next call, without a notice on the screen.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from device.base.errors import FacepaceError
from device.log import logdb
from device.log.sessionlog import SessionLog, kernel_clock_synced
from device.log import clockfix
from device.sync import protocol as p

T = TypeVar("T")
# A batch's sessions as BATCH carries them (protocol.SESSION_FIELDS, zones apart), each one
# row; date_quality as device.log.session_columns.date_quality says.
_SESSION_ROWS = (f"SELECT {', '.join('s.' + name for name in p.SESSION_FIELDS[:-2])},"
                 " CASE WHEN s.id IN (SELECT session_id FROM sync_date_fixes) THEN 'host'"
                 " WHEN s.wall_trusted THEN 'clock' ELSE 'estimated' END"
                 " FROM sessions AS s WHERE s.seq > ? ORDER BY s.seq LIMIT ?")
_SEQ = p.SESSION_FIELDS.index("seq")
_WALL_TRUSTED = p.SESSION_FIELDS.index("wall_trusted")   # stored 0/1, sent true/false
# Every zone of the sessions in a seq range, by session and position, in one query.
_ZONE_ROWS = ("SELECT s.seq, z.zone_id, z.planned_seconds, z.done_seconds, z.skipped"
              " FROM sessions AS s JOIN zones AS z ON z.session_id = s.id"
              " WHERE s.seq > ? AND s.seq <= ? ORDER BY s.seq, z.position")
# Sessions read at a time for a batch, at most; how many is guessed from the sessions' size
# so far (a 60 KiB batch holds about 120), so the bytes limit leaves few read and unsent.
_MAX_PIECE = 128
_FIRST_GUESS = 480   # bytes of JSON a session takes, before one is seen (8 zones: 490)
# Counts of the sessions above a seq kept for a sync: the first count, and the last batches'.
_COUNTS_KEPT = 8


class LogUnavailable(FacepaceError):
    """The session log cannot be read now (missing, locked, damaged)."""


class SyncSource:
    """One connection's view of the log; `close()` is safe to call twice."""

    def __init__(self, log: SessionLog, *, wall_clock: clockfix.HostWallClock | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.wall_clock = wall_clock
        self._monotonic = monotonic
        log.open_now()   # a log opened late (device.log.recording) is given its identity first
        try:
            self._db = logdb.connect(log.path, read_only=True)
            self.log_id = logdb.get_meta(self._db, "log_id")
            self.device_id = logdb.get_meta(self._db, "device_id")
        except sqlite3.Error as error:
            self.close()
            raise LogUnavailable(f"cannot read the session log: {error}") from None
        if not self.log_id or not self.device_id:
            self.close()
            raise LogUnavailable("the session log has no identity yet")
        self._top: int | None = None       # the newest seq when this sync first counted
        self._above: dict[int, int] = {}   # seq -> sessions above it, up to `_top`
        self._session_bytes = _FIRST_GUESS   # a session's JSON, on average in the last piece

    def close(self) -> None:
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            db.close()

    def __enter__(self) -> "SyncSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- Handshake ----------------------------------------------------------------------

    def now(self) -> float:
        return self.wall_clock.time() if self.wall_clock is not None else time.time()

    def clock_trusted(self) -> bool:
        return bool(self.wall_clock is not None and self.wall_clock.set_by_host) or kernel_clock_synced()

    def last_seq(self) -> int:
        return self._query("SELECT COALESCE(MAX(seq), 0) FROM sessions")[0][0]

    def count_after(self, seq: int) -> int:
        """Finalised sessions above `seq` (for the progress bar and the screen's "n/N").

        Counted once per sync: COUNT walks the seq index, so a count per batch made a first
        sync grow with the square of the log. After that the count above a batch's end is the
        count above its start less the sessions it held (`batch_after` notes it), and the
        sessions finished since the first count (above `_top`) are counted alone, and only
        when the newest seq says there are any."""
        if self._top is None:
            self._top = self.last_seq()
        known = 0 if seq >= self._top else self._above.get(seq)
        if known is None:
            known = self._count("seq > ? AND seq <= ?", (seq, self._top))
            self._remember(seq, known)
        floor = max(seq, self._top)
        return known + (self._count("seq > ?", (floor,)) if self.last_seq() > floor else 0)

    def _count(self, where: str, params: tuple) -> int:
        return self._query(f"SELECT COUNT(*) FROM sessions WHERE {where}", params)[0][0]

    def _remember(self, seq: int, count: int) -> None:
        self._above[seq] = count
        if len(self._above) > _COUNTS_KEPT:
            del self._above[list(self._above)[1]]   # an old batch's; the first count stays for ACKs

    def acknowledged(self, host_id: str) -> int:
        return self.log.last_acknowledged(host_id)

    # --- Batches ------------------------------------------------------------------------

    def batch_after(self, seq: int, *, max_sessions: int, max_bytes: int,
                    rest: Callable[[], None] | None = None) -> tuple[list[bytes], int]:
        """(sessions as JSON arrays in SESSION_FIELDS order, seq of the last one), oldest first.

        Stops before `max_bytes` of JSON (but always gives at least one session, so a sync
        can never stall on one large session). Reads as many sessions as the bytes left are
        likely to hold (from the sessions' size so far, at most `_MAX_PIECE`), so a batch that
        the byte limit cuts short has read about what it sends; `rest()` is called between
        those pieces (the server lets the pacing loop run there).
        """
        encoded, last = self._read_batch(seq, max_sessions, max_bytes, rest)
        self._note_batch(seq, last, len(encoded))
        return encoded, last

    def _read_batch(self, seq: int, max_sessions: int, max_bytes: int,
                    rest: Callable[[], None] | None) -> tuple[list[bytes], int]:
        encoded, size, last = [], 0, seq
        while len(encoded) < max_sessions:
            if encoded and rest is not None:
                rest()
            guess = (max_bytes - size) // self._session_bytes + 1
            rows = self._read_piece(last, min(guess, max_sessions - len(encoded), _MAX_PIECE))
            if not rows:
                break
            seen = 0
            for number, values in enumerate(rows, 1):
                item = json.dumps(values, separators=(",", ":")).encode()
                seen += len(item) + 1
                self._session_bytes = max(1, seen // number)
                if encoded and size + len(item) + 1 > max_bytes:
                    return encoded, last
                encoded.append(item)
                size += len(item) + 1
                last = values[_SEQ]
        return encoded, last

    def _read_piece(self, after: int, count: int) -> list[list]:
        """Up to `count` finalised sessions above seq `after`, oldest first, each a list of its
        values in SESSION_FIELDS order (zones last, each [zone_id, planned, done, skipped]).
        One read transaction: a session finalised again meanwhile (a new seq) cannot be sent
        without its zones."""
        def read(db: sqlite3.Connection) -> tuple[list, list]:
            db.execute("BEGIN")
            try:
                rows = db.execute(_SESSION_ROWS, (after, count)).fetchall()
                zones = db.execute(_ZONE_ROWS, (after, rows[-1][_SEQ])).fetchall() if rows else []
            finally:
                db.execute("COMMIT")
            return rows, zones

        rows, zone_rows = self._reading(read)
        zones: dict[int, list] = {}
        for seq, zone_id, planned, done, skipped in zone_rows:
            zones.setdefault(seq, []).append([zone_id, planned, done, bool(skipped)])
        sessions = []
        for row in rows:
            values = list(row)
            values[_WALL_TRUSTED] = bool(values[_WALL_TRUSTED])
            values.append(zones.get(row[_SEQ], []))
            sessions.append(values)
        return sessions

    def _note_batch(self, after: int, last: int, sent: int) -> None:
        """A batch holds every session in (after, last]: sessions finalised since get seqs
        above `_top`, and none are deleted. (One finalised again, which gets a new seq, would
        make the counts one too high for the rest of this sync: a progress figure, never what
        is sent.)"""
        if self._top is not None and after in self._above and last < self._top:
            self._remember(last, self._above[after] - sent)

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._reading(lambda db: db.execute(sql, params).fetchall())

    def _reading(self, read: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            raise LogUnavailable("the sync connection is closed")
        try:
            return read(self._db)
        except sqlite3.Error as error:
            raise LogUnavailable(f"cannot read the session log: {error}") from None

    # --- Changes ------------------------------------------------------------------------

    def acknowledge(self, host_id: str, seq: int) -> bool:
        return self.log.acknowledge(host_id, seq)

    def set_clock(self, host_utc: float) -> ClockAnswer:
        """Take the host's time if it is plausible (`clockfix.refusal`), and date sessions by it."""
        refused = self._reading(lambda db: clockfix.refusal(db, host_utc))
        if refused is not None:
            estimated = self._query("SELECT COUNT(*) FROM sessions WHERE wall_trusted = 0"
                                    " AND outcome IS NOT NULL")[0][0]
            return ClockAnswer(0, estimated, 0.0, refused)
        offset = host_utc - self.now()
        if self.wall_clock is not None:
            offset = self.wall_clock.set_from_host(host_utc)
            # Only now are new sessions' dates right: the app reads this same clock.
            self.log.note_clock_set_by_host()
        counts = self.log.fix_dates(host_utc=host_utc, monotonic_now=self._monotonic())
        if counts is None:
            raise LogUnavailable("cannot fix dates in the session log now; sync again")
        fixed, estimated = counts
        return ClockAnswer(fixed, estimated, offset)


@dataclass(frozen=True)
class ClockAnswer:
    """What SET_CLOCK did: sessions dated, sessions left estimated, the correction (s), and
    why the host's time was not taken (None if it was)."""

    fixed: int
    estimated: int
    offset: float
    refused: str | None = None
