"""The session recorder the app calls while a routine runs.

    log = SessionLog.open(paths.session_log())
    sid = log.begin("daily", routine_hash, intensity=3, planned=[("neck", 60), ...],
                    mono_start=clock.now(), wall_start=time.time())
    log.checkpoint(sid, zones=[ZoneProgress("neck", 60, 60, False), ...], active_seconds=61.0,
                   mono_now=clock.now())
    log.finish(sid, "completed", zones=[...], active_seconds=480.0, wall_end=time.time(),
               mono_end=clock.now())
    log.overview(time.time())      # streak, minutes this week, last session
    log.take_notices()             # e.g. ["Disk full: log kept"], once each
    log.close()

Nothing here raises into the pacing loop for disk trouble. Every call first updates the
session kept in memory, then writes everything not yet written in one transaction. If
the card is full, read-only or failing, the write is rolled back, the session stays in
memory, a short notice is queued for the screen, and the next call tries again.

Writes are kept small for the SD card: one transaction (one WAL fsync) per call, only the
zone rows that changed, and nothing at all when a checkpoint changes nothing.
The methods are safe to call from a worker thread if the app prefers not to wait for
the card inside its loop.

Size (~580 lines): the recorder's memory-first writes and the overview reads share one transaction
discipline; a candidate to split (writer / reader).
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import threading
import time
import uuid
from dataclasses import replace
from collections import Counter
from datetime import datetime, timedelta, tzinfo
from datetime import time as dtime
from pathlib import Path
from typing import Callable, Iterable, Sequence

from device.log import goals, history
from device.log import logdb
from device.base.durable import write_atomically
from device.base.quiet import NEVER, QuietTimes
from device.log.history import Overview
from device.log.logdb import SessionRecord, ZoneProgress

__all__ = ["SessionLog", "ZoneProgress", "SessionRecord", "Overview", "kernel_clock_synced"]

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")

logger = logging.getLogger("facepace.log")

NOTICE_REPAIRED = "Log repaired"
NOTICE_FULL = "Disk full: log kept"
NOTICE_READ_ONLY = "Log read-only: kept"
NOTICE_ERROR = "Log error: kept"
NOTICE_NEWER = "Log is newer: kept"
NOTICE_SAVED = "Log saved"

PENDING_SUFFIX = ".pending"   # sessions.db.pending: sessions a stop could not write (see close)
# Less free space than this in the log's folder: a vague I/O error is taken as "disk full".
NEARLY_FULL_BYTES = 256 * 1024
# Hosts whose last acknowledgement is kept: anyone with the cable can make up host ids.
MAX_ACKED_HOSTS = 16


TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


def kernel_clock_synced(timesync_flag: Path = TIMESYNC_FLAG) -> bool:
    """Whether an NTP client has disciplined the system clock (no subprocess, ~10 µs).

    First the kernel, as systemd-timedated's NTPSynchronized asks it: a read-only `adjtimex()`
    (glibc issues `clock_adjtime`) reports a maximum error under 16 s. The kernel starts at
    16 s and lets it grow when nobody corrects the clock; STA_UNSYNC alone is not enough
    because chrony leaves it set unless `rtcsync` is on. facepace.service forbids that call
    (`ProtectClock=yes`), so there the answer is systemd-timesyncd's `timesync_flag`, a file in
    /run (so: this boot) that it touches at every synchronisation.
    """
    import ctypes   # here, not at the top: a few ms of the firmware's start on a Pi (issue 12)

    class TimexStart(ctypes.Structure):
        # Only the leading fields; the buffer below is bigger than any ABI's struct timex.
        _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long),
                    ("freq", ctypes.c_long), ("maxerror", ctypes.c_long)]

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(512)  # modes = 0: read only
        if libc.adjtimex(buffer) >= 0 and TimexStart.from_buffer(buffer).maxerror < 16_000_000:
            return True
    except (OSError, AttributeError):
        pass
    try:
        return timesync_flag.exists()
    except OSError:
        return False


def read_boot_id(path: Path = BOOT_ID_PATH) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"

# How often (SQLite virtual-machine steps, some tens of microseconds here) a query looks whether
# the loop is about to wake: between two looks it may keep the CPU a cue needs.
QUIET_STEPS = 200


def random_id() -> str:
    return str(uuid.uuid4())


class SessionLog:
    """Sessions kept crash-safe in SQLite; see the module docstring."""

    def __init__(self, path: Path, *, tz: tzinfo | None, wall_time: Callable[[], float],
                 boot_id: str, clock_synced: Callable[[], bool],
                 connect: Callable[[Path], object], recover: bool = True,
                 pending_dirs: Sequence[Path] = (), new_id: Callable[[], str] = random_id,
                 quiet: QuietTimes = NEVER) -> None:
        self.path = Path(path)
        # Where a stop that cannot write the log keeps its sessions (see `close`): the log's
        # own folder first, then e.g. the runtime folder (when a full card takes no new file).
        self._pending_files = list(dict.fromkeys(
            Path(folder) / f"{self.path.name}{PENDING_SUFFIX}" for folder in (self.path.parent, *pending_dirs)))
        self._pending_loaded: list[Path] = []
        self.recovers = recover
        self.tz = tz
        self.boot_id = boot_id
        self._wall_time = wall_time
        self._clock_synced = clock_synced
        self._connect = connect
        self._quiet = quiet
        self._new_id = new_id
        self._lock = threading.RLock()
        self._db = None
        self._notices: list[str] = []
        self._failing_notice: str | None = None
        self._device_id: str | None = None
        self._log_id: str | None = None
        self._clock_set_by_host = False   # this process took a host's time (it is not kept)
        self._dated_by_host: set[str] = set()   # open sessions whose start came from it
        # Sessions not yet fully written, by id, and what the file already holds of them.
        self._unsaved: dict[str, SessionRecord] = {}
        self._stored: dict[str, SessionRecord] = {}
        self._end_reasons: dict[str, str] = {}   # finished by the device (logdb.END_REASONS), until written
        self.transactions = 0   # commits that wrote session data (one WAL fsync each)

    # --- Opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, tz: tzinfo | None = None,
             wall_time: Callable[[], float] = time.time,
             boot_id_path: Path = BOOT_ID_PATH,
             clock_synced: Callable[[], bool] = kernel_clock_synced,
             connect: Callable[[Path], object] = logdb.connect,
             recover: bool = True, pending_dirs: Sequence[Path] = (),
             new_id: Callable[[], str] = random_id, device_id: str | None = None,
             quiet: QuietTimes = NEVER, deferred: bool = False) -> "SessionLog":
        """Open (creating, checking, migrating, repairing, recovering); never raises for disk trouble.

        `connect(path)` returns a `sqlite3.Connection`; tests pass one that refuses writes.
        `recover=False` is for a second process next to the firmware (`facepace sync-serve`):
        sessions left open are not closed (they may be the firmware's, still running) and a
        damaged file is not repaired (the firmware has it open); it is reported instead.
        `pending_dirs`: where `close` may keep sessions it cannot write, besides the log's folder.
        `new_id()` makes session, device and log ids; tests pass a seeded one so that a log's
        layout (and so what a given damage hits) is the same at every run.
        `device_id`: the id a fresh log takes (the board's serial number, which a re-flash
        keeps); a log that has one keeps its own, so a computer never sees its sessions twice.
        `quiet`: the firmware's loop's quiet times, which every query steps aside for.
        `deferred`: the file is not touched until `finish_opening()` (the recorder's worker calls
        it, off the firmware's start: its health check is most of a second on a Pi's quota).
        """
        log = cls(path, tz=tz, wall_time=wall_time, boot_id=read_boot_id(boot_id_path),
                  clock_synced=clock_synced, connect=connect, recover=recover,
                  pending_dirs=pending_dirs, new_id=new_id, quiet=quiet)
        log._device_id = device_id
        if not deferred:
            log.finish_opening()
        return log

    def finish_opening(self) -> None:
        """Open the file (checking, repairing, recovering) and take the sessions an earlier stop
        kept. A call that needs the file before this opens it itself, under the same lock."""
        with self._lock:
            self._try_open()
            if self.recovers:
                self._load_pending()

    def open_now(self) -> bool:
        """Open the file now if nobody has yet (a deferred log's worker may not have got to it: a
        sync in the simulator's first second); False if it cannot be opened now."""
        with self._lock:
            return self._try_open()

    def _try_open(self) -> bool:
        """Get a usable, migrated, recovered file; False (with a notice) if not possible now."""
        if self._db is not None:
            return True
        if self._failing_notice == NOTICE_NEWER:
            return False  # newer firmware's file: retrying cannot help until an update
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.recovers and logdb.finish_repair(self.path):
                self._notify(NOTICE_REPAIRED)  # the repair was cut short before it could say so
            db, repaired = self._open_checked()
            self._db = db
            if repaired:
                # A fresh file: it may not hold what was written of our open sessions.
                # Write them again in full at the next write.
                self._unsaved = {**self._stored, **self._unsaved}
                self._stored.clear()
            self._load_identity()
            if self.recovers:
                self._recover_open_sessions()
        except (logdb.sqlite3.Error, OSError, logdb.NewerSchemaError) as error:
            self._drop_connection()
            self._failed(error)
            return False
        return True

    def _open_checked(self):
        """(connection to a healthy, migrated file, whether it was just repaired)."""
        healthy, damage = self._check_read_only()
        if damage is None:
            damage = self._open_if_healthy(healthy)
            if not isinstance(damage, Exception):
                return damage, False
        if not self.recovers:
            raise damage
        # Crash-safe: the damaged file stays in place until the new one is complete.
        repaired = logdb.repair(self.path, self._connect, self._wall_time)
        saved = repaired.salvaged
        logger.warning("session log %s was damaged; kept as %s. Saved %d sessions with %d zones; "
                       "%d found only in part were left out", self.path, repaired.aside.name,
                       saved.sessions, saved.zones, saved.dropped)
        self._notify(NOTICE_REPAIRED)
        return self._stepping_aside(self._connect(self.path)), True

    def _stepping_aside(self, db):
        """`db`, its queries stepping aside for the loop's cues every QUIET_STEPS steps."""
        if self._quiet is not NEVER:
            db.set_progress_handler(lambda: self._quiet.step_aside() or 0, QUIET_STEPS)
        return db

    def _open_if_healthy(self, known_healthy: bool):
        """A migrated connection, or the damage (an exception, returned) that stops one; any
        other error is raised."""
        db = None
        try:
            db = self._stepping_aside(self._connect(self.path))  # may fail on a damaged header or schema
            if known_healthy or logdb.is_healthy(db):
                logdb.migrate(db)
                return db
            damage = logdb.sqlite3.DatabaseError("the health check found the session log damaged")
        except logdb.sqlite3.DatabaseError as error:
            if db is not None:
                db.close()
            if not logdb.is_corruption(error):
                raise
            return error
        except BaseException:
            if db is not None:
                db.close()
            raise
        db.close()
        return damage

    def _check_read_only(self) -> tuple[bool, Exception | None]:
        """(healthy, damage) as a read-only connection finds the file; (False, None) if it cannot
        tell. Read-only because the last writer to close folds the -wal into the file, and a
        damaged file must be kept as it was, -wal and all."""
        if not self.path.exists():
            return False, None
        try:
            db = self._stepping_aside(logdb.connect(self.path, read_only=True))
        except logdb.sqlite3.DatabaseError as error:
            return False, error if logdb.is_corruption(error) else None
        try:
            if logdb.is_healthy(db):
                return True, None
            return False, logdb.sqlite3.DatabaseError("the health check found the session log damaged")
        except logdb.sqlite3.DatabaseError:
            return False, None   # I/O trouble: the writer's own open says what it is
        finally:
            db.close()

    def _load_identity(self) -> None:
        """Device id: made once, kept forever. Log id: new with every fresh file (see logdb)."""
        db = self._db
        device_id = logdb.get_meta(db, "device_id")
        log_id = logdb.get_meta(db, "log_id")
        if device_id is None or log_id is None:
            with logdb.transaction(db):
                if device_id is None:
                    device_id = self._device_id or self._new_id()
                    logdb.set_meta(db, "device_id", device_id)
                if log_id is None:
                    log_id = self._new_id()
                    logdb.set_meta(db, "log_id", log_id)
        self._device_id, self._log_id = device_id, log_id

    def _recover_open_sessions(self) -> None:
        """Sessions left open by a power cut or crash end as `interrupted`, with what they reached."""
        # Skip our own sessions: the file may be reopened after an I/O error mid-session.
        ours = self._unsaved.keys() | self._stored.keys()
        leftovers = [s for s in logdb.read_open_sessions(self._db) if s.id not in ours]
        if not leftovers:
            return
        with logdb.transaction(self._db):
            for session in leftovers:
                self._db.execute(
                    "UPDATE sessions SET outcome = 'interrupted',"
                    " wall_end = COALESCE(wall_checkpoint, wall_start + active_seconds),"
                    " seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM sessions) WHERE id = ?",
                    (session.id,))
        self.transactions += 1

    # --- Recording ----------------------------------------------------------------------

    def begin(self, routine_name: str, routine_hash: str, intensity: int,
              planned: Iterable[tuple[str, float]], *, mono_start: float,
              wall_start: float) -> str:
        """Record a session's start (written at once); returns its id."""
        with self._lock:
            synced = self._clock_is_synced()
            session = SessionRecord(
                id=self._new_id(), device_id=self._device_id or "", routine_name=routine_name,
                routine_hash=routine_hash, intensity=int(intensity), wall_start=float(wall_start),
                wall_trusted=synced or self._clock_set_by_host, boot_id=self.boot_id,
                mono_start=float(mono_start), wall_checkpoint=float(wall_start),
                mono_end=float(mono_start),
                zones=tuple(ZoneProgress(zone_id, float(seconds)) for zone_id, seconds in planned),
            )
            self._unsaved[session.id] = session
            if self._clock_set_by_host and not synced:
                self._dated_by_host.add(session.id)
            self._write()
            return session.id

    def checkpoint(self, session_id: str, zones: Sequence[ZoneProgress], active_seconds: float,
                   *, mono_now: float) -> None:
        """Progress at a zone change: a power cut after this loses only the zone under way.

        `mono_now` is the app's monotonic clock (the one `mono_start` came from): if the
        session never finishes, this is its end, which a sync can date.
        """
        with self._lock:
            self._update(session_id, zones=tuple(zones), active_seconds=float(active_seconds),
                         wall_checkpoint=self._wall_time(), mono_end=float(mono_now))
            self._write()

    def finish(self, session_id: str, outcome: str, zones: Sequence[ZoneProgress],
               active_seconds: float, wall_end: float, *, mono_end: float) -> None:
        """Close the session as `completed` or `ended_early`, or ended by the device for one of
        `logdb.END_REASONS` (kept as `ended_early` with the reason); `mono_end` is on `mono_start`'s clock."""
        if outcome in logdb.END_REASONS:
            self._end_reasons[session_id], outcome = outcome, "ended_early"
        elif outcome not in ("completed", "ended_early"):
            raise ValueError(f"outcome must be 'completed', 'ended_early' or one of {logdb.END_REASONS},"
                             f" got {outcome!r}")
        with self._lock:
            self._update(session_id, zones=tuple(zones), active_seconds=float(active_seconds),
                         outcome=outcome, wall_end=float(wall_end), wall_checkpoint=float(wall_end),
                         mono_end=float(mono_end))
            self._write()

    def flush(self) -> bool:
        """Try again to write what is kept in memory; True when nothing is left unsaved."""
        with self._lock:
            self._write()
            return not self._unsaved

    def _update(self, session_id: str, **changes) -> None:
        current = self._unsaved.get(session_id) or self._stored.get(session_id)
        if current is None:
            raise KeyError(f"no session {session_id!r} was begun in this log")
        if current.outcome is not None:
            raise ValueError(f"session {session_id!r} is already finished")
        updated = replace(current, **changes)
        if updated != self._stored.get(session_id):
            self._unsaved[session_id] = updated
        else:
            self._unsaved.pop(session_id, None)  # back to what the file holds: nothing to write

    def _write(self) -> None:
        if not self._unsaved or not self._try_open():
            return
        try:
            with logdb.transaction(self._db):
                for session in self._unsaved.values():
                    self._write_session(session)
        except logdb.sqlite3.Error as error:
            self._failed(error)
            if error_is_fatal_for_connection(error):
                self._drop_connection()
            return
        self.transactions += 1
        for session in self._unsaved.values():
            if session.outcome is None:
                self._stored[session.id] = session
            else:
                self._stored.pop(session.id, None)  # finished: nothing more to compare with
                self._end_reasons.pop(session.id, None)
                self._dated_by_host.discard(session.id)
        self._unsaved.clear()
        self._forget_pending()
        if self._failing_notice is not None:
            self._failing_notice = None
            self._notify(NOTICE_SAVED)

    def _write_session(self, session: SessionRecord) -> None:
        db, before = self._db, self._stored.get(session.id)
        if before is not None:
            updated = db.execute(
                "UPDATE sessions SET active_seconds = ?, wall_checkpoint = ?, outcome = ?,"
                " wall_end = ?, mono_end = ? WHERE id = ?",
                (session.active_seconds, session.wall_checkpoint, session.outcome,
                 session.wall_end, session.mono_end, session.id))
            if updated.rowcount == 0:
                before = None  # the file no longer holds it (replaced, repaired): write it whole
        if before is None:
            row = session.as_dict()
            row["device_id"] = self._device_id
            row["zone_count"] = len(session.zones)   # lets a salvage tell all zones from some
            row.pop("zones"), row.pop("seq")
            # An upsert: a repaired file may hold an older copy of the session.
            updates = ", ".join(f"{name} = excluded.{name}" for name in row if name != "id")
            db.execute(f"INSERT INTO sessions ({', '.join(row)}) VALUES "
                       f"({', '.join('?' * len(row))}) ON CONFLICT (id) DO UPDATE SET {updates}",
                       tuple(row.values()))
            if session.id in self._dated_by_host:
                from device.log import clockfix  # the log itself does not need sync
                clockfix.note_dated_by_host(db, session.id, session.wall_start)
            previous_zones: tuple[ZoneProgress, ...] = ()
        else:
            previous_zones = before.zones
        changed = [(session.id, position, zone.zone_id, zone.planned_seconds, zone.done_seconds,
                    int(zone.skipped))
                   for position, zone in enumerate(session.zones)
                   if position >= len(previous_zones) or previous_zones[position] != zone]
        db.executemany(
            "INSERT INTO zones (session_id, position, zone_id, planned_seconds, done_seconds, skipped)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, position) DO UPDATE SET"
            " zone_id = excluded.zone_id, planned_seconds = excluded.planned_seconds,"
            " done_seconds = excluded.done_seconds, skipped = excluded.skipped", changed)
        if session.outcome is not None:
            # Given when the session is final, so a sync that saw it open picks it up later.
            db.execute("UPDATE sessions SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM sessions)"
                       " WHERE id = ?", (session.id,))
            if session.id in self._end_reasons:
                db.execute("INSERT OR REPLACE INTO session_end_reasons (session_id, reason) VALUES (?, ?)",
                           (session.id, self._end_reasons[session.id]))

    def _clock_is_synced(self) -> bool:
        try:
            return bool(self._clock_synced())
        except Exception:  # a probe must never stop a session from starting
            return False

    # --- Trouble ------------------------------------------------------------------------

    def _failed(self, error: Exception) -> None:
        if isinstance(error, logdb.sqlite3.Error) and logdb.error_code(error) == logdb.SQLITE_BUSY:
            # Another process (`facepace sync-serve`) held the file past the busy timeout:
            # nothing is wrong with the card. What was not written stays in memory and
            # is written at the next call; the screen is not told.
            return
        notice = notice_for(error)
        if notice == NOTICE_ERROR and self._nearly_full():
            notice = NOTICE_FULL   # SQLite often says only "disk I/O error" or "unable to open"
        if notice != self._failing_notice:
            self._failing_notice = notice
            self._notify(notice)

    def _nearly_full(self) -> bool:
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        try:
            return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
        except OSError:
            return False

    def _notify(self, notice: str) -> None:
        self._notices.append(notice)

    def _drop_connection(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except logdb.sqlite3.Error:
                pass
        self._db = None

    # --- Reading ------------------------------------------------------------------------

    @property
    def notices(self) -> list[str]:
        """Messages not yet taken, oldest first (a copy)."""
        return list(self._notices)

    def take_notices(self) -> list[str]:
        """Messages for the screen, each given once."""
        with self._lock:
            taken, self._notices = self._notices, []
            return taken

    @property
    def has_unsaved(self) -> bool:
        return bool(self._unsaved)

    @property
    def device_id(self) -> str | None:
        return self._device_id

    @property
    def log_id(self) -> str | None:
        return self._log_id

    def sessions(self, *, since: float | None = None, limit: int | None = None) -> list[SessionRecord]:
        """Newest first, including sessions only kept in memory; empty if the file is unreadable."""
        with self._lock:
            stored: list[SessionRecord] = []
            if self._try_open():
                try:
                    stored = logdb.read_sessions(self._db, since=since, limit=limit)
                except logdb.sqlite3.Error as error:
                    self._failed(error)
            merged = {s.id: s for s in stored}
            merged.update({s.id: s for s in self._unsaved.values()
                           if since is None or s.wall_start >= since})
            ordered = sorted(merged.values(), key=lambda s: s.wall_start, reverse=True)
            return ordered if limit is None else ordered[:limit]

    def overview(self, now_wall: float) -> Overview:
        """Streak, minutes this week and the last session, for the idle and summary screens."""
        with self._lock:
            sessions, week_totals = self.read_for_overview(now_wall)
            return history.overview(sessions, now_wall, self.tz, week_totals=week_totals)

    def read_for_overview(self, now_wall: float) -> tuple[list, tuple[int, float]]:
        """What `history.overview` needs of the last 400 days (plenty for any streak a screen
        shows), added up by SQLite rather than read session by session (0.3 s of CPU here at
        10,000 sessions, ten times that on a Pi): of each day, the newest session that counts
        toward a streak; the newest session; and this week's sessions and seconds. The same
        overview as from every session (a test fuzzes it)."""
        since = now_wall - 400 * 86400
        today = history.local_day(now_wall, self.tz)
        week_first_day = history.week_start(today)
        # Sessions not fully written yet are taken as they are here (the file may hold an
        # older state of them), one by one.
        unsaved = [s for s in self._unsaved.values() if s.wall_start >= since]
        skip = [s.id for s in unsaved]
        stored: list = []
        count, seconds = 0, 0.0
        if self._try_open():
            try:
                stored = logdb.read_briefs(self._db, since=since, limit=1, skip_ids=skip)
                # Days after today (a clock set back) all count as today: one of them is enough.
                ahead = now_wall + 2 * 86400
                for bounds in ({"before": ahead}, {"since": ahead, "limit": 1}):
                    stored += logdb.read_day_heads(self._db, **{"since": since, **bounds}, tz=self.tz,
                                                   where=history.COUNTS_TOWARD_STREAK_SQL, skip_ids=skip)
                count, seconds = logdb.count_from_day(self._db, week_first_day, tz=self.tz,
                                                      since=history.before_this_week(now_wall, self.tz),
                                                      skip_ids=skip)
            except logdb.sqlite3.Error as error:
                self._failed(error)
        for session in unsaved:
            if min(history.local_day(session.wall_start, self.tz), today) >= week_first_day:
                count, seconds = count + 1, seconds + session.active_seconds
        merged = {s.id: s for s in stored}
        merged.update({s.id: s for s in unsaved})
        return sorted(merged.values(), key=lambda s: s.wall_start, reverse=True), (count, seconds / 60)

    # The weekly goal's reads (device.log.recording), added up by SQLite: no session's zones are
    # read unless it is too short to count without its plan. Days are `tz`'s; `first_day` and
    # `before_day` bound them.

    def goal_days(self, first_day, tz, before_day=None) -> list[logdb.GoalDay]:
        """One row a day from `first_day` on (to `before_day`), for `goals.Tally.add_day`."""
        counts = goals.counts_sql("s.active_seconds", logdb.PLANNED_SQL)
        with self._lock:
            unsaved = self._unsaved_between(first_day, before_day, tz)
            days = self._read_or_none(logdb.read_goal_days, first_day=first_day, since=_before(first_day, tz),
                                      tz=tz, counts=counts, before_day=before_day,
                                      skip_ids=[s.id for s in unsaved]) or []
        # Sessions not fully written yet, as they are here: a row each.
        return days + [logdb.GoalDay(goals.local_day(s.wall_start, tz).isoformat(), 1, s.active_seconds,
                                     goals.counts(s.active_seconds, _planned(s))) for s in unsaved]

    def counted_by_routine(self, first_day, tz, before_day=None) -> Counter:
        """How many sessions that count each routine has, from `first_day` on (to `before_day`)."""
        counts = goals.counts_sql("s.active_seconds", logdb.PLANNED_SQL)
        with self._lock:
            unsaved = self._unsaved_between(first_day, before_day, tz)
            stored = self._read_or_none(logdb.count_by_routine, first_day=first_day, since=_before(first_day, tz),
                                        tz=tz, where=counts, before_day=before_day,
                                        skip_ids=[s.id for s in unsaved]) or {}
        return Counter(stored) + Counter(s.routine_name for s in unsaved
                                         if goals.counts(s.active_seconds, _planned(s)))

    def date_fixes_mark(self) -> tuple | None:
        """Changes whenever a sync re-dates a session (`clockfix.fix_dates`); None if unreadable."""
        with self._lock:
            return self._read_or_none(logdb.date_fixes_mark)

    def _unsaved_between(self, first_day, before_day, tz) -> list[SessionRecord]:
        return [s for s in self._unsaved.values()
                if first_day <= goals.local_day(s.wall_start, tz) and (before_day is None or
                                                                       goals.local_day(s.wall_start, tz) < before_day)]

    def _read_or_none(self, read, **arguments):
        """`read(the connection, **arguments)`, or None if the file cannot be read now."""
        if not self._try_open():
            return None
        try:
            return read(self._db, **arguments)
        except logdb.sqlite3.Error as error:
            self._failed(error)
            return None

    # --- Sync hooks (issue 5) -----------------------------------------------------------

    def acknowledge(self, host_id: str, seq: int) -> bool:
        """Store the last seq a host confirmed; False if it could not be written now."""
        with self._lock:
            if not self._try_open():
                return False
            try:
                known = self._db.execute("SELECT log_id, acked_seq FROM sync_acks WHERE host_id = ?",
                                         (host_id,)).fetchone()
                if known == (self._log_id, seq):
                    return True   # a repeated ACK: nothing to write (or to fsync)
                with logdb.transaction(self._db):
                    self._db.execute(
                        "INSERT OR REPLACE INTO sync_acks (host_id, log_id, acked_seq, acked_wall)"
                        " VALUES (?, ?, ?, ?)", (host_id, self._log_id, seq, self._wall_time()))
                    self._db.execute(
                        "DELETE FROM sync_acks WHERE host_id NOT IN (SELECT host_id FROM sync_acks"
                        " ORDER BY host_id = ? DESC, acked_wall DESC LIMIT ?)", (host_id, MAX_ACKED_HOSTS))
            except logdb.sqlite3.Error as error:
                self._failed(error)
                return False
            return True

    def last_acknowledged(self, host_id: str) -> int:
        """The host's last confirmed seq in this log (0 if none, or if it was for an older file)."""
        with self._lock:
            if not self._try_open():
                return 0
            row = self._db.execute("SELECT log_id, acked_seq FROM sync_acks WHERE host_id = ?",
                                   (host_id,)).fetchone()
            return row[1] if row is not None and row[0] == self._log_id else 0

    def note_clock_set_by_host(self) -> None:
        """A host's time is in use: sessions begun from now on are trusted, dated by a host
        (`device.log.clockfix`). Not kept in the file: it holds for this boot only (the system
        clock is not set); a restarted firmware trusts its clock again only when the sync
        service gives the time back (`device.service.sync_link`)."""
        with self._lock:
            self._clock_set_by_host = True

    def fix_dates(self, *, host_utc: float, monotonic_now: float) -> tuple[int, int] | None:
        """Date this boot's untrusted sessions from the host's UTC (`device.log.clockfix`);
        (fixed, still estimated), or None if the file cannot be written now.

        In the log's own transaction, under its lock: a date fix waits for the recorder's
        write to finish, and the recorder for the fix, instead of either failing.
        """
        from device.log import clockfix  # the log itself does not need sync

        with self._lock:
            if not self._try_open():
                return None
            try:
                with logdb.transaction(self._db):
                    counts = clockfix.fix_dates(self._db, boot_id=self.boot_id,
                                                host_utc=host_utc, monotonic_now=monotonic_now)
            except logdb.sqlite3.Error as error:
                self._failed(error)
                return None
            return counts

    # --- Lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Write what can be written and close the file; safe to call twice.

        What still cannot be written is kept in a pending file (the first of `_pending_files`
        that takes it) and written at the next start; the journal says where, or that the
        sessions are lost when no folder takes them."""
        with self._lock:
            if self._unsaved:
                self._write()
            if self._unsaved:
                self._keep_pending()
            self._drop_connection()

    # --- Sessions a stop could not write ------------------------------------------------

    def _keep_pending(self) -> None:
        sessions = list(self._unsaved.values())
        data = json.dumps({"log": str(self.path.absolute()),
                           "sessions": [session.as_dict() for session in sessions]}).encode()
        why = _REASONS.get(self._failing_notice, "a disk error")
        for pending in self._pending_files:
            try:
                pending.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(pending, data)
            except OSError:
                continue
            for older in self._pending_loaded:
                if older != pending:
                    older.unlink(missing_ok=True)   # its sessions are in the new file too
            # If this log is used again and writes them after all, the file goes then.
            self._pending_loaded = [pending]
            logger.error("%d session(s) could not be written to %s (%s); kept in %s and written "
                         "at the next start", len(sessions), self.path, why, pending)
            return
        logger.error("%d session(s) could not be written to %s (%s), nor kept in %s: they are lost",
                     len(sessions), self.path, why, ", ".join(str(p.parent) for p in self._pending_files))

    def _load_pending(self) -> None:
        """Take the sessions an earlier stop kept; written now if the log can be written."""
        for pending in self._pending_files:
            try:
                kept = json.loads(pending.read_bytes())
                if kept.get("log") != str(self.path.absolute()):
                    continue   # another log's (a simulator's, say): not ours to write
                sessions = [_pending_session(fields) for fields in kept["sessions"]]
            except FileNotFoundError:
                continue
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
                logger.warning("cannot read the sessions kept in %s: %s", pending, error)
                continue
            for session in sessions:
                self._unsaved.setdefault(session.id, session)
            self._pending_loaded.append(pending)
        if self._pending_loaded:
            self._write()

    def _forget_pending(self) -> None:
        """Everything is in the log now: the kept copies go."""
        for pending in self._pending_loaded:
            try:
                pending.unlink(missing_ok=True)
            except OSError:
                pass   # written again (and de-duplicated by id) at the next start
        self._pending_loaded.clear()

    def __enter__(self) -> "SessionLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# Why a stop could not write, for the journal (the notices are short, for the screen).
_REASONS = {NOTICE_FULL: "the card is full", NOTICE_READ_ONLY: "the card is read-only",
            NOTICE_NEWER: "the file is newer firmware's"}


def _pending_session(fields: dict) -> SessionRecord:
    """A session from a pending file (hostile: on the card, like the log). One that was open
    when the device stopped ended then: it is interrupted."""
    zones = tuple(ZoneProgress(str(z["zone_id"]), float(z["planned_seconds"]),
                               float(z["done_seconds"]), bool(z["skipped"])) for z in fields.pop("zones"))
    fields.pop("seq", None)
    session = SessionRecord(**fields, zones=zones)
    if not isinstance(session.id, str) or session.outcome not in (None, "completed", "ended_early", "interrupted"):
        raise ValueError(f"not a session: {session.id!r}")
    if session.outcome is None:
        end = session.wall_checkpoint if session.wall_checkpoint is not None else session.wall_start
        session = replace(session, outcome="interrupted", wall_end=end)
    return session


def notice_for(error: Exception) -> str:
    if isinstance(error, logdb.NewerSchemaError):
        return NOTICE_NEWER
    if isinstance(error, logdb.sqlite3.Error):
        code = logdb.error_code(error)
        if code == logdb.SQLITE_FULL:
            return NOTICE_FULL
        if code == logdb.SQLITE_READONLY:
            return NOTICE_READ_ONLY
    if isinstance(error, OSError):
        if error.errno == errno.ENOSPC:
            return NOTICE_FULL
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return NOTICE_READ_ONLY
    return NOTICE_ERROR


def error_is_fatal_for_connection(error: Exception) -> bool:
    """After I/O or corruption errors, reopen (and re-check) rather than reuse the connection."""
    code = logdb.error_code(error) if isinstance(error, logdb.sqlite3.Error) else None
    return code in (logdb.SQLITE_IOERR, logdb.SQLITE_CORRUPT, logdb.SQLITE_NOTADB,
                    logdb.SQLITE_CANTOPEN)


def _planned(session: SessionRecord) -> float:
    return sum(zone.planned_seconds for zone in session.zones)


def _before(day, tz) -> float:
    """A Unix time before `day` began in `tz` (a day early: a zone's midnight can be skipped)."""
    return datetime.combine(day - timedelta(days=1), dtime(), tz).timestamp()
