"""The weekly goal: what counts, what a week needs, the streak of met weeks, rest and gentle start.

The one set of rules behind every number about keeping at it: the device's idle and summary
screens, `facepace stats`, `facepace history`, the report picture and the companion page.
Pure functions over what the log already holds (a session's start in UTC, its active and
planned seconds), with the person's time zone and settings as inputs: old logs need no
migration, and a test can fix every date.

The rules (README "History"):
- A session counts when it ran at least half its planned time or 3 minutes, whichever is less
  (a 3-minute routine needs 1:30, the 8-minute one 3:00). How it ended does not matter.
- A day counts when a session that counts started on it, in the person's time zone. The
  weekly goal (1..7, default 5) is a number of such days: two sessions on one day are one.
- Weeks start on `week_start` (Monday by default).
- Rest: days in a rest period are not asked of the person. A week with 4 or more rest days is
  skipped (it neither breaks nor extends the streak); a week with fewer needs the goal scaled
  to its free days, rounded down, at least 1 (goal 5 with 2 rest days: 3). Sessions on a rest
  day still count.
- The streak is the number of weeks in a row, back from this one, that met their goal. This
  week adds one once met; while it can still be met (enough free days left, today included) it
  never breaks the streak; once it cannot, the streak is 0.
- A session dated after today (a clock set back) is today's, as in `device.log.history`.

Size (~320 lines): the rules above, and the few sentences that state their results (from
`resting_phrase` on: the idle line, the summary, rest). The sentences are the piece to move out
(callers use them as `goals.idle_status` and so on, so a move touches each caller); left here
while the App's wiring of them was being written (issue 14).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Iterable, NamedTuple

# The settings' side (limits, checks, the rest's type) lives with the settings, below this layer;
# re-exported so a caller of the rules needs this one module.
from device.settings.goal import (ANCHOR_MAX_CHARS, MAX_REST_DAYS, MAX_REST_PERIODS, WEEKDAYS,  # noqa: F401
                                  Rest, anchor_problem, parse_rests, rests_problem)

DEFAULT_GOAL = 5
MIN_COUNTED_SECONDS = 180.0     # a session this long always counts...
COUNTED_SHARE = 0.5             # ...as does one that ran half its plan
REST_SKIPS_WEEK_DAYS = 4        # a week with this many rest days is skipped


class Done(NamedTuple):
    """A session as the goal sees it."""

    wall_start: float          # Unix seconds (UTC)
    active_seconds: float
    planned_seconds: float


@dataclass(frozen=True)
class GoalRules:
    weekly_goal: int = DEFAULT_GOAL
    week_start: int = 0                 # 0 = Monday .. 6 = Sunday
    tz: tzinfo | None = None            # None: the system's local time
    rests: tuple[Rest, ...] = ()


@dataclass(frozen=True)
class Week:
    """One week's account."""

    start: date
    days_done: int          # days with a session that counts
    needed: int             # days the goal asks of this week; 0 = skipped (mostly rest)
    rest_days: int
    sessions: int = 0       # every session that started in the week, counted or not
    minutes: float = 0.0    # their active minutes

    @property
    def skipped(self) -> bool:
        return self.needed == 0

    @property
    def met(self) -> bool:
        return not self.skipped and self.days_done >= self.needed


@dataclass(frozen=True)
class Progress:
    """Where the person stands today: for the idle screen, the summary and the reports."""

    today: date
    this_week: Week
    streak_weeks: int
    can_still_meet: bool        # this week: met already, or enough free days left
    resting_until: date | None  # today is in a rest that ends on this day


# --- what counts ------------------------------------------------------------------------------

def counts(active_seconds: float, planned_seconds: float) -> bool:
    """At least half its planned time or MIN_COUNTED_SECONDS, whichever is less (a plan
    unknown, 0, asks for MIN_COUNTED_SECONDS)."""
    needed = MIN_COUNTED_SECONDS
    if planned_seconds > 0:
        needed = min(needed, planned_seconds * COUNTED_SHARE)
    return active_seconds >= needed


def counts_sql(active: str, planned: str) -> str:
    """`counts` as an SQL condition (1 or 0) on the SQL expressions `active` and `planned` (one
    rule, two languages: a test fuzzes them against each other). A CASE, as SQLite evaluates
    both sides of an OR inside an aggregate: `planned` is only evaluated for a session shorter
    than MIN_COUNTED_SECONDS, so most sessions count without their zones read (a third of the
    goal's read of a long log)."""
    return (f"(CASE WHEN {active} >= {MIN_COUNTED_SECONDS!r} THEN 1"
            f" WHEN {planned} > 0 AND {active} >= {planned} * {COUNTED_SHARE!r} THEN 1 ELSE 0 END)")


def from_record(record: Any) -> Done:
    """A `SessionRecord` as the goal sees it: its plan is the sum of its zones' plans."""
    planned = sum(zone.planned_seconds for zone in record.zones)
    return Done(record.wall_start, record.active_seconds, planned)


def from_records(records: Iterable[Any]) -> list[Done]:
    return [from_record(record) for record in records]


def local_day(wall: float, tz: tzinfo | None) -> date:
    return datetime.fromtimestamp(wall, tz).date()


def today_of(now_wall: float, rules: GoalRules) -> date:
    return local_day(now_wall, rules.tz)


def week_start(day: date, first_weekday: int = 0) -> date:
    """The first day of `day`'s week, for weeks starting on `first_weekday` (0 = Monday)."""
    return day - timedelta(days=(day.weekday() - first_weekday) % 7)


def _week_days(start: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range(7)]


def is_resting(day: date, rests: Iterable[Rest]) -> bool:
    return any(day in rest for rest in rests)


def needed_in(start: date, goal: int, rests: tuple[Rest, ...]) -> tuple[int, int]:
    """(days the week starting on `start` asks for, its rest days)."""
    rest_days = sum(is_resting(day, rests) for day in _week_days(start))
    if rest_days >= REST_SKIPS_WEEK_DAYS:
        return 0, rest_days
    if rest_days == 0:
        return goal, 0
    return max(1, goal * (7 - rest_days) // 7), rest_days


# --- weeks and the streak -----------------------------------------------------------------------

@dataclass
class Tally:
    """What the rules need from the sessions, added up one session at a time (a long history is
    never in memory whole): the days that count, and each week's sessions and minutes."""

    today: date
    rules: GoalRules
    counted: set[date] = field(default_factory=set)
    totals: dict[date, list] = field(default_factory=dict)   # week start -> [sessions, minutes]

    def add(self, session: Done) -> None:
        self.add_day(local_day(session.wall_start, self.rules.tz), 1, session.active_seconds / 60,
                     counts(session.active_seconds, session.planned_seconds))

    def add_day(self, day: date, sessions: int, minutes: float, counted: bool) -> None:
        """The sessions of one local day at once, for a caller that adds them up by day in SQL
        (the device's log, `SessionLog.goal_days`; the companion page); `counted`: one of them
        `counts`."""
        day = min(day, self.today)
        bucket = self.totals.setdefault(week_start(day, self.rules.week_start), [0, 0.0])
        bucket[0] += sessions
        bucket[1] += minutes
        if counted:
            self.counted.add(day)

    def drop_weeks_from(self, first_week: date) -> None:
        """Forget the weeks from the one starting on `first_week` on, to be added again."""
        self.counted = {day for day in self.counted if day < first_week}
        self.totals = {week: totals for week, totals in self.totals.items() if week < first_week}

    def week(self, start: date) -> Week:
        needed, rest_days = needed_in(start, self.rules.weekly_goal, self.rules.rests)
        sessions, minutes = self.totals.get(start, (0, 0.0))
        return Week(start, sum(day in self.counted for day in _week_days(start)), needed, rest_days,
                    sessions, minutes)

    @property
    def this_week_start(self) -> date:
        return week_start(self.today, self.rules.week_start)

    def with_session(self, session: Done) -> "Tally":
        """A copy with `session` added: the summary's numbers the moment a session ends, before
        the log is read again."""
        copy = Tally(self.today, self.rules, set(self.counted), {week: list(totals) for week, totals
                                                                   in self.totals.items()})
        copy.add(session)
        return copy

    def on(self, now_wall: float) -> "Tally":
        """The same sessions as they stand at `now_wall` (the idle screen on a later day, without
        reading the log; a session dated after the old today stays on it)."""
        return Tally(max(self.today, today_of(now_wall, self.rules)), self.rules, self.counted, self.totals)


def tally(done: Iterable[Done], now_wall: float, rules: GoalRules = GoalRules()) -> Tally:
    added = Tally(today_of(now_wall, rules), rules)
    for session in done:
        added.add(session)
    return added


def _can_still_meet(week: Week, today: date, rests: tuple[Rest, ...]) -> bool:
    if week.skipped or week.met:
        return True
    days_left = [day for day in _week_days(week.start) if day >= today and not is_resting(day, rests)]
    return week.days_done + len(days_left) >= week.needed


def weeks(done: Iterable[Done], now_wall: float, rules: GoalRules = GoalRules(), count: int = 8) -> list[Week]:
    """The last `count` weeks, oldest first, the current one last (empty weeks too)."""
    return weeks_of(tally(done, now_wall, rules), count)


def weeks_of(added: Tally, count: int = 8) -> list[Week]:
    current = added.this_week_start
    return [added.week(current - timedelta(weeks=back)) for back in range(count - 1, -1, -1)]


def progress(done: Iterable[Done], now_wall: float, rules: GoalRules = GoalRules()) -> Progress:
    return progress_of(tally(done, now_wall, rules))


def progress_of(added: Tally) -> Progress:
    today, rules = added.today, added.rules
    current = added.week(added.this_week_start)
    can_meet = _can_still_meet(current, today, rules.rests)
    streak = int(current.met) + _run_before(added, current.start) if can_meet else 0
    return Progress(today, current, streak, can_meet, resting_until(rules.rests, today))


def _run_before(added: Tally, start: date) -> int:
    """Met weeks in a row before the week starting on `start` (skipped weeks pass through)."""
    if not added.counted:
        return 0
    oldest = min(added.counted)
    run, week_begin = 0, start - timedelta(weeks=1)
    while week_begin + timedelta(days=6) >= oldest:
        week = added.week(week_begin)
        if week.met:
            run += 1
        elif not week.skipped:
            break
        week_begin -= timedelta(weeks=1)
    return run


def longest_streak(done: Iterable[Done], now_wall: float, rules: GoalRules = GoalRules()) -> int:
    return longest_of(tally(done, now_wall, rules))


def longest_of(added: Tally) -> int:
    """The most met weeks in a row ever (this week included once met)."""
    if not added.counted:
        return 0
    best = run = 0
    start = week_start(min(added.counted), added.rules.week_start)
    last = added.this_week_start
    while start <= last:
        week = added.week(start)
        if week.met:
            run += 1
            best = max(best, run)
        elif not week.skipped and start != last:   # this week is not over
            run = 0
        start += timedelta(weeks=1)
    return best


# --- rest periods --------------------------------------------------------------------------------

def resting_until(rests: Iterable[Rest], today: date) -> date | None:
    """The last day of the rest `today` is in (rests that touch are one), or None."""
    ordered = sorted(rests, key=lambda rest: rest.first)
    end = None
    for rest in ordered:
        if end is None and today in rest:
            end = rest.last
        elif end is not None and rest.first <= end + timedelta(days=1):
            end = max(end, rest.last)
    return end


def rest_added(rests: Iterable[Rest], today: date, last_day: date) -> tuple[Rest, ...]:
    """The rests with one more, from today to `last_day`: a rest running today is replaced by
    it from today on ("until the 14th" means until the 14th), its days so far are kept; the
    newest MAX_REST_PERIODS are kept."""
    return (*rest_ended(rests, today), Rest(today, last_day))[-MAX_REST_PERIODS:]


def rest_ended(rests: Iterable[Rest], today: date) -> tuple[Rest, ...]:
    """The rests with the one running today ended yesterday (dropped if it began today), and
    any planned for later dropped."""
    ended = []
    for rest in rests:
        if rest.first >= today:
            continue
        ended.append(Rest(rest.first, min(rest.last, today - timedelta(days=1))))
    return tuple(ended)


# --- gentle start --------------------------------------------------------------------------------

def gentle_level(chosen: int, sessions_before: int, gentle_sessions: int, *, overridden: bool = False) -> int:
    """The level the buzz is capped at for a session while the gentle start lasts.

    `sessions_before` is how many sessions that count the person has done before this one —
    the fewer of theirs in all and theirs with this routine, so a new routine starts gently
    too (`gentle_before`). The first half or so of `gentle_sessions` runs two levels below
    `chosen`, the rest one below, then `chosen` itself; never below 1. `overridden`: the person
    changed the level with the hold since the gentle start began — their choice is kept as it
    is, this session and the next (the app keeps that flag with the person's choices).
    """
    if overridden or gentle_sessions <= 0 or sessions_before >= gentle_sessions:
        return chosen
    below = math.ceil(2 * (gentle_sessions - sessions_before) / gentle_sessions)
    return max(1, chosen - below)


def gentle_session_number(sessions_before: int, gentle_sessions: int) -> int | None:
    """"Gentle start: N of M": this session's N while the gentle start lasts, else None."""
    if gentle_sessions <= 0 or sessions_before >= gentle_sessions:
        return None
    return sessions_before + 1


def sessions_counted(done: Iterable[Done]) -> int:
    return sum(counts(session.active_seconds, session.planned_seconds) for session in done)


def gentle_before(records: Iterable[Any], routine_name: str) -> int:
    """`gentle_level`'s `sessions_before` from the log's records: the fewer of the person's
    sessions that count and of those with this routine (a new routine starts gently too)."""
    every = with_routine = 0
    for record in records:
        done = from_record(record)
        if counts(done.active_seconds, done.planned_seconds):
            every += 1
            with_routine += record.routine_name == routine_name
    return min(every, with_routine)


# --- phrases for the screens and reports -------------------------------------------------------------

def resting_phrase(last_day: date) -> str:
    """"Resting until Mon 14 Dec" (English names whatever the locale: the screen's words are)."""
    return f"Resting until {day_name(last_day)}"


def day_name(day: date) -> str:
    """"Mon 14 Dec", for the rest's screens."""
    return f"{WEEKDAYS[day.weekday()][:3].title()} {day.day} {day.strftime('%b')}"


def idle_status(progress: Progress, *, gentle_number: int | None = None, gentle_sessions: int = 0,
                anchor: str = "") -> str | None:
    """The idle screen's status line, most pressing first: a rest, the gentle start, the anchor
    phrase; None: the last session shows there instead. At most 21 characters (one line)."""
    if progress.resting_until is not None:
        return f"Rest until {day_name(progress.resting_until)}"
    if gentle_number is not None:
        return f"Gentle start {gentle_number} of {gentle_sessions}"
    return anchor or None


def idle_week(progress: Progress) -> dict[str, int]:
    """The idle view's week fields: `IdleView(..., **goals.idle_week(progress), status=...)`."""
    week = progress.this_week
    return {"week_done": week.days_done, "week_goal": week.needed, "streak_weeks": progress.streak_weeks}


def weeks_phrase(count: int) -> str:
    return f"{count} week" + ("" if count == 1 else "s")


def week_line(progress: Progress, goal: int) -> str:
    """For `stats`, `history` and the report: "This week: 3 of 5 days · goal met 4 weeks in a row"."""
    week = progress.this_week
    if progress.resting_until is not None:
        now = resting_phrase(progress.resting_until).lower()
    elif week.skipped:
        now = "a week of rest"
    else:
        now = f"{week.days_done} of {week.needed} days" + (" (met)" if week.met else "")
    streak = f"goal met {weeks_phrase(progress.streak_weeks)} in a row" if progress.streak_weeks else \
        ("no streak yet" if progress.can_still_meet else "streak ended: a new one starts next week")
    return f"This week: {now} · {streak} (goal {goal} days a week)"


def summary_phrase(progress: Progress) -> str:
    """The summary screen's last line, the session just added counted (at most 21 characters)."""
    week = progress.this_week
    if week.met:
        return f"Goal met: {weeks_phrase(progress.streak_weeks)}" if progress.streak_weeks > 1 \
            else "Week's goal met!"
    if week.skipped:
        return "Counted (resting)"
    return f"Week: {week.days_done} of {week.needed} days"


# --- from the settings ------------------------------------------------------------------------------

REST_ALIASES = ("rest_until", "rest_days")   # how a person sets `rest_periods`


def rest_periods_set(periods: list[str] | None, today: date, *, until: date | None = None,
                     days: int | None = None) -> list[str]:
    """The `rest_periods` setting after `rest_until=DATE` (the rest's last day) or `rest_days=N`
    (N days from today; 0 ends a rest running today, as does an `until` before today)."""
    rests = parse_rests(periods or [])
    if days is not None:
        until = today + timedelta(days=days - 1) if days > 0 else None
    if until is None or until < today:
        changed = rest_ended(rests, today)
    else:
        changed = rest_added(rests, today, until)
    return [rest.interval() for rest in changed]


def rest_alias_problem(name: str, value: Any) -> str | None:
    if name == "rest_days":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REST_DAYS:
            return f"must be 0..{MAX_REST_DAYS} (days from today; 0 ends a rest), got {value!r}"
        return None
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return None
    if isinstance(value, str):
        try:
            date.fromisoformat(value)
            return None
        except ValueError:
            pass
    return f"must be a date like 2026-12-14 (the last day of the rest), got {value!r}"


def rules_from(goal_config: Any, *, time_zone: str | None = None,
               rest_periods: list[str] | None = None) -> GoalRules:
    """The rules from the `[goal]` settings, the person's time zone (None: the system's) and
    their rest periods — as the device merged them (defaults < /etc < the computer's)."""
    from zoneinfo import ZoneInfo

    return GoalRules(weekly_goal=goal_config.weekly_goal,
                     week_start=WEEKDAYS.index(goal_config.week_start),
                     tz=None if time_zone is None else ZoneInfo(time_zone),
                     rests=parse_rests(rest_periods or []))
