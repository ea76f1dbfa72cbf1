"""Records the running session in the session log, off the pacing loop.

An SD card's fsync can take tens of milliseconds, and a cue must never wait for
it: on the device the writes go to one worker thread, in order. The loop only
takes a snapshot of the progress (cheap) and hands it over. Under the virtual
clock (tests, the simulator at full speed) the writes happen inline, so runs stay
deterministic.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from device.base.gil import in_the_background
from device.log import history
from device.log.sessionlog import Overview, SessionLog, ZoneProgress

log = logging.getLogger("facepace.log")

# While sessions are only in memory (a full or read-only card), how often the loop asks
# the worker to try again: they reach the card within this long of it having room.
RETRY_SECONDS = 30.0


def progress(pacer, now: float) -> list[ZoneProgress]:
    """Every zone's planned and done seconds so far, from the pacing plan."""
    return [ZoneProgress(result.zone_id, result.planned_seconds, pacer.zone_done_seconds(index, now),
                         result.skipped)
            for index, result in enumerate(pacer.results)]


class SessionRecorder:
    def __init__(self, session_log: SessionLog, *, wall_time: Callable[[], float],
                 threaded: bool = True) -> None:
        self._log = session_log
        self._wall_time = wall_time
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="facepace-log",
                                            initializer=in_the_background) if threaded else None
        self._session_id: str | None = None
        self._started_wall: float | None = None   # the session under way's, for its streak
        self.overview: Overview | None = None
        self._overview_asked_for = None   # the `as_of` of an overview being read again
        # Notices are collected on the worker and handed over through a deque: asking the log
        # from the loop would wait on its lock, held for the length of a write and fsync.
        self._notices: deque[str] = deque()
        # Whether the log holds sessions it could not write, as the worker last saw it (the
        # loop must not ask the log: its lock is held for a whole write).
        self._unsaved = False
        self._retry_at: float | None = None
        self._retrying = False
        self._submit(self._refresh_overview)

    def begin(self, routine, intensity: int, started_mono: float) -> None:
        planned = [(zone.id, zone.seconds) for zone in routine.active_zones]
        self._started_wall = self._wall_time()
        self._submit(self._begin, routine.name, routine.content_hash, intensity, planned,
                     started_mono, self._started_wall)

    def checkpoint(self, pacer, now: float) -> None:
        self._submit(self._checkpoint, progress(pacer, now), pacer.active_seconds(now), now)

    def finish(self, pacer, now: float, outcome: str) -> None:
        self._submit(self._finish, outcome, progress(pacer, now), pacer.active_seconds(now),
                     self._wall_time(), now)

    def streak_with_this_session(self) -> int | None:
        """The streak counting the session just finished, known at once for the summary's first
        frame: the overview read back from the log comes later, after the worker's write.
        None if the log has not been read yet."""
        if self.overview is None or self._started_wall is None:
            return None
        day = history.local_day(self._started_wall, self._log.tz)
        return history.streak_with_session_on(self.overview, day)

    def overview_now(self) -> Overview | None:
        """The overview as the idle screen shows it now: the log's, read after the last session,
        moved on to today's date (a streak ends, a week starts) without reading the log again."""
        overview = self.overview
        if overview is None:
            return None
        moved = history.overview_on(overview, self._wall_time(), self._log.tz)
        if moved is not None:
            return moved
        # Sessions dated after the day it was read (the clock was set back): ask the log, once.
        if self._overview_asked_for != overview.as_of:
            self._overview_asked_for = overview.as_of
            self._submit(self._refresh_overview)
        return self.overview   # the new one when the log is read inline, else the old one for now

    def refresh_overview(self) -> None:
        """Read the overview from the log again (a sync may have changed the dates)."""
        self._submit(self._refresh_overview)

    def take_notices(self) -> list[str]:
        """Messages for the screen ("Disk full: log kept"), each once; never blocks."""
        taken = []
        while self._notices:
            taken.append(self._notices.popleft())
        return taken

    # A service of the app's loop (next_deadline/poll, on the loop's clock): retry the writes
    # kept in memory on a timer, so an idle device writes them once the card has room.

    def next_deadline(self) -> float | None:
        return self._retry_at

    def poll(self, now: float) -> None:
        if not self._unsaved:
            self._retry_at = None
        elif self._retry_at is None:
            self._retry_at = now + RETRY_SECONDS
        elif now >= self._retry_at:
            self._retry_at = now + RETRY_SECONDS
            if not self._retrying:   # one retry at a time on the worker
                self._retrying = True
                self._submit(self._retry)

    @property
    def session_log(self) -> SessionLog:
        """For the USB sync server, which reads the same log on its own thread."""
        return self._log

    def close(self) -> None:
        """Write what is pending, then close the log; safe to call twice."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._log.close()

    # -- on the worker -------------------------------------------------------------------

    def _submit(self, job, *args) -> None:
        if self._executor is None:
            self._run(job, *args)
        else:
            self._executor.submit(self._run, job, *args)

    def _run(self, job, *args) -> None:
        try:
            job(*args)
        except Exception:   # the log must never take the device down; SessionLog keeps the data
            log.exception("session log call failed")
        self._unsaved = self._log.has_unsaved
        self._notices.extend(self._log.take_notices())

    def _retry(self) -> None:
        try:
            self._log.flush()
        finally:
            self._retrying = False

    def _begin(self, name, content_hash, intensity, planned, mono_start, wall_start) -> None:
        self._session_id = self._log.begin(name, content_hash, intensity, planned,
                                           mono_start=mono_start, wall_start=wall_start)

    def _checkpoint(self, zones, active_seconds, mono_now) -> None:
        if self._session_id is not None:
            self._log.checkpoint(self._session_id, zones, active_seconds, mono_now=mono_now)

    def _finish(self, outcome, zones, active_seconds, wall_end, mono_end) -> None:
        if self._session_id is not None:
            self._log.finish(self._session_id, outcome, zones, active_seconds, wall_end,
                             mono_end=mono_end)
            self._session_id = None
        self._refresh_overview()

    def _refresh_overview(self) -> None:
        self.overview = self._log.overview(self._wall_time())


class NullRecorder:
    """Where no session log is wired: nothing is kept."""

    overview = None

    def begin(self, routine, intensity, started_mono):
        pass

    def checkpoint(self, pacer, now):
        pass

    def finish(self, pacer, now, outcome):
        pass

    def streak_with_this_session(self):
        return None

    def overview_now(self):
        return None

    def refresh_overview(self):
        pass

    def take_notices(self):
        return []

    def close(self):
        pass


def streak_phrase(days: int) -> str | None:
    if days <= 0:
        return None
    return "Day 1 of a streak" if days == 1 else f"{days} days in a row"
