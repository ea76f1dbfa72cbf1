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
`device.logdb.MIGRATIONS`; the original start too), so a fixed date can always be told
from one the clock gave, and the change can be undone.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Callable


class HostWallClock:
    """Wall-clock seconds: the system clock plus the last correction a host gave.

    Thread-safe: the sync thread sets it, the app's loop reads it.
    """

    def __init__(self, *, system_time: Callable[[], float] = time.time) -> None:
        self._system_time = system_time
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
            return self._offset


def fix_dates(db: sqlite3.Connection, *, boot_id: str, host_utc: float,
              monotonic_now: float) -> tuple[int, int]:
    """Fix this boot's untrusted finished sessions; returns (fixed, still estimated).

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
        "SELECT id, wall_start, wall_end, mono_start, mono_end FROM sessions"
        " WHERE wall_trusted = 0 AND boot_id = ? AND outcome IS NOT NULL AND mono_start <= ?"
        " AND (mono_end IS NULL OR mono_end BETWEEN mono_start AND ?)",
        (boot_id, monotonic_now, monotonic_now)).fetchall()
    for session_id, wall_start, wall_end, mono_start, mono_end in rows:
        start_shift = real_time(mono_start, host_utc, monotonic_now) - wall_start
        end_shift = start_shift if mono_end is None or wall_end is None \
            else real_time(mono_end, host_utc, monotonic_now) - wall_end
        db.execute(
            "UPDATE sessions SET wall_start = wall_start + ?, wall_end = wall_end + ?,"
            " wall_checkpoint = wall_checkpoint + ?, wall_trusted = 1 WHERE id = ?",
            (start_shift, end_shift, end_shift, session_id))
        db.execute("INSERT OR REPLACE INTO sync_date_fixes (session_id, wall_start_before, shift,"
                   " fixed_wall, end_shift) VALUES (?, ?, ?, ?, ?)",
                   (session_id, wall_start, start_shift, host_utc, end_shift))
    estimated = db.execute("SELECT COUNT(*) FROM sessions WHERE wall_trusted = 0"
                           " AND outcome IS NOT NULL").fetchone()[0]
    return len(rows), estimated


def real_time(mono: float, host_utc: float, monotonic_now: float) -> float:
    """The real time of a moment earlier in this boot, from the host's UTC now."""
    return host_utc - (monotonic_now - mono)
