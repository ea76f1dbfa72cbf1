"""Records the running session in the session log, off the pacing loop.

An SD card's fsync can take tens of milliseconds, and a cue must never wait for
it: on the device the writes go to one worker thread, in order. The loop only
takes a snapshot of the progress (cheap) and hands it over. Under the virtual
clock (tests, the simulator at full speed) the writes happen inline, so runs stay
deterministic.
"""

from __future__ import annotations

import logging
import threading
import zoneinfo
from collections import Counter, deque
from datetime import tzinfo
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Callable

from device.base.gil import in_the_background
from device.base.quiet import NEVER, QuietTimes
from device.log import goals, history
from device.log.sessionlog import Overview, SessionLog, ZoneProgress

log = logging.getLogger("facepace.log")

# While sessions are only in memory (a full or read-only card), how often the loop asks
# the worker to try again: they reach the card within this long of it having room.
RETRY_SECONDS = 30.0
# The weekly goal reads this many weeks back, and GOAL_WEEKS_WIDER times as many again while the
# streak of met weeks reaches the oldest one read: a long history is read only as far as the
# streak goes (a year's streak: two reads).
GOAL_WEEKS_READ = 8
GOAL_WEEKS_WIDER = 16
GOAL_WEEKS_MAX = GOAL_WEEKS_READ * GOAL_WEEKS_WIDER ** 2   # about 40 years
QUIET_ROWS = 100   # days or weeks added up between two looks at the loop's quiet times (~0.3 ms here)


def progress(pacer, now: float) -> list[ZoneProgress]:
    """Every zone's planned and done seconds so far, from the pacing plan."""
    return [ZoneProgress(result.zone_id, result.planned_seconds, pacer.zone_done_seconds(index, now),
                         result.skipped)
            for index, result in enumerate(pacer.results)]


class SessionRecorder:
    def __init__(self, session_log: SessionLog, *, wall_time: Callable[[], float],
                 threaded: bool = True, rules: goals.GoalRules = goals.GoalRules(),
                 quiet: QuietTimes = NEVER, open_log: Callable[[], None] | None = None,
                 on_read: Callable[[], None] | None = None) -> None:
        """`open_log()`: the log's opening (`SessionLog.finish_opening`), the worker's first job,
        threaded: once the loop first polls, so that the firmware's start neither waits for it nor
        shares the CPU with it; every write queues behind it, in order.
        `on_read()`: called on the worker when a read may change the screen (the log read, a
        notice): the loop wakes for it."""
        self._log = session_log
        self._on_read = on_read
        self._wall_time = wall_time
        self._rules = rules
        self._quiet = quiet   # the loop's quiet times: the goal's adding up steps aside for them
        self.goal: goals.Tally | None = None      # the weekly goal's sessions, read on the worker
        self._counted: Counter[str] = Counter()   # sessions that count, by routine (gentle start)
        self._counted_older: Counter[str] = Counter()   # those of the weeks before `_older_until`
        self._older_until: date | None = None
        self._dates_mark = None   # the log's date fixes when the goal was last read whole
        self._progress: tuple = (None, None, None)   # goal_now()'s, with the tally and day it is for
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="facepace-log",
                                            initializer=in_the_background) if threaded else None
        self._session_id: str | None = None
        self._started_wall: float | None = None   # the session under way's, for the summary's week
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
        # True until the log is first read: the idle screen keeps the splash rather than show
        # figures of an empty log.
        self.reading = True
        # Set at the loop's first poll (or a close): a threaded log opens only then, so that on a
        # busy core (a Pi's; the bench's quota) its check takes none of the CPU the start needs.
        self._serving = threading.Event()
        if open_log is not None:
            self._submit(self._open_once_serving, open_log)
        self._submit(self._first_read)

    def begin(self, routine, intensity: int, started_mono: float) -> None:
        planned = [(zone.id, zone.seconds) for zone in routine.active_zones]
        self._started_wall = self._wall_time()
        self._submit(self._begin, routine.name, routine.content_hash, intensity, planned,
                     started_mono, self._started_wall)

    def checkpoint(self, pacer, now: float) -> None:
        self._submit(self._checkpoint, progress(pacer, now), pacer.active_seconds(now), now)

    def finish(self, pacer, now: float, outcome: str) -> None:
        self._submit(self._finish, outcome, progress(pacer, now), pacer.active_seconds(now),
                     self._wall_time(), now, self._started_wall)

    def goal_with_this_session(self, active_seconds: float, planned_seconds: float) -> goals.Progress | None:
        """The weekly goal counting the session just finished, known at once for the summary's
        first frame: the log read back comes later, after the worker's write. None if the log
        has not been read yet."""
        added = self.goal
        if added is None or self._started_wall is None:
            return None
        done = goals.Done(self._started_wall, active_seconds, planned_seconds)
        return goals.progress_of(added.on(self._wall_time()).with_session(done))

    def goal_now(self) -> goals.Progress | None:
        """The weekly goal as the idle screen shows it now: the log's, moved on to today's date
        (a week starts, a rest ends) without reading the log again."""
        added = self.goal
        if added is None:
            return None
        moved = added.on(self._wall_time())
        kept_tally, kept_day, progress = self._progress
        if kept_tally is not added or kept_day != moved.today:
            progress = goals.progress_of(moved)
            self._progress = (added, moved.today, progress)
        return progress

    def gentle_before(self, routine_name: str) -> int | None:
        """`goals.gentle_level`'s sessions before: the fewer of the counted sessions in all and
        with this routine (in the weeks read); None if the log has not been read yet (a press
        in the start's first second or so, while the worker opens it): that session runs at
        the level the person chose, not a gentle one."""
        if self.goal is None:
            return None
        return min(sum(self._counted.values()), self._counted[routine_name])

    def set_rules(self, rules: goals.GoalRules) -> None:
        """New goal settings (a rest set on the device): the goal is read again with them."""
        self._rules = rules
        self._submit(self._refresh_overview)

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
        """Read the overview from the log again after a sync: the host's clock may have re-dated
        this boot's sessions. The goal is read whole again only if it did."""
        self._submit(self._refresh_after_sync)

    def use_time_zone(self, name: str | None) -> None:
        """Count calendar days (streak, "Today", this week) in the IANA zone `name` (None: the
        system's); sessions keep their UTC times, only the day they count for moves."""
        tz = zone(name)
        if tz != self._log.tz:
            self._log.tz = tz
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
        if not self._serving.is_set():
            self._serving.set()
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
        self._serving.set()   # a stop before the loop served: the log opens, and takes what is pending
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
        notices = self._log.take_notices()
        self._notices.extend(notices)
        if self._on_read is not None and (notices or job in (self._first_read, self._refresh_overview)):
            self._on_read()

    def _open_once_serving(self, open_log: Callable[[], None]) -> None:
        if self._executor is not None:
            self._serving.wait()
        open_log()

    def _first_read(self) -> None:
        try:
            self._refresh_overview()
        finally:
            self.reading = False

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

    def _finish(self, outcome, zones, active_seconds, wall_end, mono_end, wall_start) -> None:
        if self._session_id is not None:
            self._log.finish(self._session_id, outcome, zones, active_seconds, wall_end,
                             mono_end=mono_end)
            self._session_id = None
        self._refresh_overview(since_wall=wall_start)

    def _refresh_overview(self, *, since_wall: float | None = None) -> None:
        """The overview and the goal read again (`_refresh_goal` says how far back); the overview
        is published last: an overview read means the goal is read too."""
        now_wall = self._wall_time()
        overview = self._log.overview(now_wall)
        self._refresh_goal(now_wall, since_wall=since_wall)
        self.overview = overview

    def _refresh_after_sync(self) -> None:
        redated = self._log.date_fixes_mark() != self._dates_mark
        self._refresh_overview(since_wall=None if redated else self._wall_time())

    def _refresh_goal(self, now_wall: float, *, since_wall: float | None = None) -> None:
        """The goal read again from the log, as far back as the streak of met weeks goes; or,
        after a session (`since_wall`, its start), only its week and those after it, when the
        weeks before were read last time as they are now: a long streak's whole history read
        after every session took the pacing's CPU (issue 12)."""
        rules = self._rules
        today = goals.today_of(now_wall, rules)
        this_week = goals.week_start(today, rules.week_start)
        kept = self.goal
        if since_wall is not None and kept is not None and kept.rules == rules and self._older_until == this_week \
                and goals.local_day(since_wall, rules.tz) >= this_week:
            added = kept.on(now_wall)
            added.drop_weeks_from(this_week)
            self._add_days(added, this_week)
            self._counted = self._counted_older + self._log.counted_by_routine(this_week, rules.tz)
            self.goal = added
            return
        self._dates_mark = self._log.date_fixes_mark()   # before the read: a fix meanwhile is seen next time
        weeks, added, oldest = GOAL_WEEKS_READ, goals.Tally(today, rules), None
        while True:
            # Only the weeks not read yet: a day's sessions add up.
            oldest, newer = this_week - timedelta(weeks=weeks - 1), oldest
            self._add_days(added, oldest, newer)
            if not self._all_met(added, this_week, weeks):
                break   # the streak stops inside the weeks read
            if weeks >= GOAL_WEEKS_MAX:
                break
            weeks *= GOAL_WEEKS_WIDER
        self._counted_older = self._log.counted_by_routine(oldest, rules.tz, before_day=this_week)
        self._older_until = this_week
        self._counted = self._counted_older + self._log.counted_by_routine(this_week, rules.tz)
        self.goal = added

    def _all_met(self, added: goals.Tally, this_week, weeks: int) -> bool:
        """Whether the `weeks` - 1 weeks before this one were all met (or skipped)."""
        for back in range(1, weeks):
            if back % QUIET_ROWS == 0:
                self._quiet.step_aside()
            week = added.week(this_week - timedelta(weeks=back))
            if not (week.met or week.skipped):
                return False
        return True

    def _add_days(self, added: goals.Tally, first_day, before_day=None) -> None:
        for number, row in enumerate(self._log.goal_days(first_day, added.rules.tz, before_day)):
            if number % QUIET_ROWS == 0:
                self._quiet.step_aside()
            added.add_day(date.fromisoformat(row.day), row.sessions, row.active_seconds / 60, row.counted)


class NullRecorder:
    """Where no session log is wired: nothing is kept."""

    overview = None
    reading = False

    def begin(self, routine, intensity, started_mono):
        pass

    def checkpoint(self, pacer, now):
        pass

    def finish(self, pacer, now, outcome):
        pass

    def goal_with_this_session(self, active_seconds, planned_seconds):
        return None

    def goal_now(self):
        return None

    def gentle_before(self, routine_name):
        return None

    def set_rules(self, rules):
        pass

    def overview_now(self):
        return None

    def refresh_overview(self):
        pass

    def use_time_zone(self, name):
        pass

    def take_notices(self):
        return []

    def close(self):
        pass


def zone(name: str | None) -> tzinfo | None:
    """The time zone named `name` (checked when the person set it), or None: the system's."""
    return None if name is None else zoneinfo.ZoneInfo(name)
