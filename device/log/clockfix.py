"""Dates on a device without a real-time clock, corrected from the host's UTC.

A Pi without an RTC may boot with a date that is hours or years off. Durations are
always right (monotonic clock); only the dates can be wrong. When a host syncs it sends
its UTC time, and the device:

1. keeps `HostWallClock.offset`, so its own idea of real time is right for the rest of
   this boot. The firmware runs without CAP_SYS_TIME (see systemd/facepace.service), so
   the system clock itself is not set: the app and the session log read time through
   this object instead of `time.time()`.
2. fixes sessions recorded earlier in this boot with an untrusted clock: their real start
   is `host_utc - (monotonic_now - mono_start)`, the same boot's monotonic clock on both
   sides of the subtraction, so the answer is exact to the link's latency; their real
   end likewise from `mono_end`.
3. leaves sessions from earlier boots with an untrusted clock as they are, and reports
   them as `estimated`: their monotonic clock is gone, so no honest fix exists.

What was changed is kept in the log's `sync_date_fixes` table (schema in
`device.log.logdb.MIGRATIONS`; the original start too), so a fixed date can always be told
from one the clock gave, and the change can be undone. A session recorded while a host's
time was in use gets a row there too (a shift of 0): its date came from a host as well.

Anyone with the cable can claim any time, so a host's time is taken only if it is
plausible (`refusal`): not before the newest session the device's own synchronised clock
dated, and not more than `MAX_AHEAD` after that or after this firmware was built. Dates a
host gave are never evidence against a later host (they do not move those bounds), and a
later sync re-dates this boot's sessions that a host's time dated, so one wrong clock
that was plausible enough is put right by the next honest one.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:   # the callers hand in the log's connection; the device's first frame comes before it
    import sqlite3

# No earlier than this firmware's build (2026-12-01): a clock far ahead of it is not believed.
BUILT = 1_796_083_200.0
MAX_AHEAD_YEARS = 10               # a device may lie in a drawer for years, not for decades
MAX_AHEAD = MAX_AHEAD_YEARS * 365.25 * 86400
MAX_BEHIND = 600.0                  # a computer's clock may be a few minutes slow
REDATE_AT = 2.0                     # a later host who agrees within this leaves dates alone


class HostWallClock:
    """Wall-clock seconds: the system clock plus the last correction a host gave.

    Thread-safe: the sync thread sets it, the app's loop reads it. The sync service is a
    process of its own: it passes `on_set` to tell the firmware, whose clock `adopt`s the
    correction (`device.sync.channel`).
    """

    def __init__(self, *, system_time: Callable[[], float] = time.time,
                 on_set: Callable[[float], None] | None = None) -> None:
        self._system_time = system_time
        self._on_set = on_set
        self._lock = threading.Lock()
        self._offset = 0.0
        self.set_by_host = False

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def time(self) -> float:
        return self._system_time() + self.offset

    def set_from_host(self, host_utc: float) -> float:
        """Take the host's time as the truth from now on; returns the correction in seconds."""
        with self._lock:
            self._offset = host_utc - self._system_time()
            self.set_by_host = True
            offset = self._offset
        if self._on_set is not None:
            self._on_set(offset)
        return offset

    def adopt(self, offset: float) -> None:
        """Take a correction a host gave another process of this boot (same system clock)."""
        with self._lock:
            self._offset = offset
            self.set_by_host = True


def refusal(db: sqlite3.Connection, host_utc: float) -> str | None:
    """Why a host's time is not plausible, for a person; None if it is."""
    (newest,) = db.execute(
        "SELECT MAX(COALESCE(wall_end, wall_start)) FROM sessions AS s WHERE wall_trusted = 1"
        " AND NOT EXISTS (SELECT 1 FROM sync_date_fixes AS f WHERE f.session_id = s.id)").fetchone()
    said = f"the computer's clock says {_date(host_utc)}"
    if newest is not None and host_utc < newest - MAX_BEHIND:
        return f"{said}, before the device's last session ({_date(newest)}): check its date and time"
    known = max(BUILT, newest or BUILT)
    if host_utc > known + MAX_AHEAD:
        return (f"{said}, more than {MAX_AHEAD_YEARS} years after anything the device knows ({_date(known)}):"
                " check its date and time")
    return None


def _date(utc: float) -> str:
    return datetime.fromtimestamp(utc, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def fix_dates(db: sqlite3.Connection, *, boot_id: str, host_utc: float,
              monotonic_now: float) -> tuple[int, int]:
    """Date this boot's finished sessions from the host's time; returns (fixed, still estimated).

    Those are the sessions recorded with an untrusted clock, and those a host's time
    dated before (at a sync, or while it was in use); the latter only if this host
    disagrees by more than REDATE_AT seconds (two honest clocks differ by far less).

    The start is dated from `mono_start` and the end (with the checkpoint, which is the
    end of a finished session) from `mono_end`, each on its own: a session that began
    before an earlier sync and ended after it has a wrong start but a right end. A session
    recorded before `mono_end` was kept has none; its end moves with its start, which
    keeps its duration.

    Open sessions are left alone: their end is not known yet, and the next sync after
    they finish fixes them. A monotonic time ahead of `monotonic_now` cannot come from
    this boot's clock (a simulator's virtual clock, say), so such a session is not touched.
    """
    rows = db.execute(
        "SELECT id, wall_start, wall_end, mono_start, mono_end, wall_trusted FROM sessions AS s"
        " WHERE boot_id = ? AND outcome IS NOT NULL AND mono_start <= ?"
        " AND (mono_end IS NULL OR mono_end BETWEEN mono_start AND ?)"
        " AND (wall_trusted = 0"
        "      OR EXISTS (SELECT 1 FROM sync_date_fixes AS f WHERE f.session_id = s.id))",
        (boot_id, monotonic_now, monotonic_now)).fetchall()
    fixed = 0
    for session_id, wall_start, wall_end, mono_start, mono_end, dated_by_host in rows:
        start_shift = real_time(mono_start, host_utc, monotonic_now) - wall_start
        end_shift = start_shift if mono_end is None or wall_end is None \
            else real_time(mono_end, host_utc, monotonic_now) - wall_end
        if dated_by_host and abs(start_shift) < REDATE_AT and abs(end_shift) < REDATE_AT:
            continue
        db.execute(
            "UPDATE sessions SET wall_start = wall_start + ?, wall_end = wall_end + ?,"
            " wall_checkpoint = wall_checkpoint + ?, wall_trusted = 1 WHERE id = ?",
            (start_shift, end_shift, end_shift, session_id))
        # A second fix adds to the first: the row keeps what the session's own clock said.
        db.execute("INSERT INTO sync_date_fixes (session_id, wall_start_before, shift, fixed_wall,"
                   " end_shift) VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
                   " shift = shift + excluded.shift, fixed_wall = excluded.fixed_wall,"
                   " end_shift = COALESCE(end_shift, shift) + excluded.end_shift",
                   (session_id, wall_start, start_shift, host_utc, end_shift))
        fixed += 1
    estimated = db.execute("SELECT COUNT(*) FROM sessions WHERE wall_trusted = 0"
                           " AND outcome IS NOT NULL").fetchone()[0]
    return fixed, estimated


def note_dated_by_host(db: sqlite3.Connection, session_id: str, wall_start: float) -> None:
    """A session begun while a host's time was in use: its date is the host's (a shift of 0)."""
    db.execute("INSERT OR IGNORE INTO sync_date_fixes (session_id, wall_start_before, shift,"
               " fixed_wall, end_shift) VALUES (?, ?, 0, ?, 0)", (session_id, wall_start, wall_start))


def real_time(mono: float, host_utc: float, monotonic_now: float) -> float:
    """The real time of a moment earlier in this boot, from the host's UTC now."""
    return host_utc - (monotonic_now - mono)
