"""What the log means to the person: streaks, this week, per-week and per-zone totals.

Pure functions over session records, so the same rules serve the idle screen, the
summary screen and `facepace stats`.

Days are calendar days in the device's local time zone. `tz=None` means the system's
local time, looked up for each instant (so a daylight-saving change is handled by the
C library); tests pass a `zoneinfo.ZoneInfo`. Consecutive days are found by date
arithmetic, never by counting 86,400-second steps, which breaks on 23- and 25-hour days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Iterable

from device.base import timefmt
from device.log.logdb import SessionRecord, ZoneProgress

# A session shorter than this that was interrupted (power, crash) does not make a day count.
SHORT_INTERRUPTED_SECONDS = 60.0
ZONE_END_TOLERANCE_SECONDS = timefmt.ZONE_END_TOLERANCE_SECONDS   # see there


@dataclass(frozen=True)
class Overview:
    """For the idle and summary screens."""

    streak_days: int                       # 0 when the last counted day is before yesterday
    minutes_this_week: float               # week starts on Monday
    sessions_this_week: int
    last_session_wall: float | None        # Unix seconds of its start; None = never
    last_session_minutes: float | None
    last_session_text: str | None          # e.g. "Yesterday, 8 min", for `IdleView.last_session`
    streak_last_day: date | None = None    # the newest day the streak counts; None when no streak
    as_of: date | None = None              # the day it was worked out on (see `overview_on`)


@dataclass(frozen=True)
class WeekStats:
    week_start: date                       # a Monday
    sessions: int
    minutes: float


def local_day(wall: float, tz: tzinfo | None = None) -> date:
    return datetime.fromtimestamp(wall, tz).date()


def counts_toward_streak(session: SessionRecord) -> bool:
    """Every session counts, except an interrupted (or still open) one under a minute."""
    if session.outcome in ("completed", "ended_early"):
        return True
    return session.active_seconds >= SHORT_INTERRUPTED_SECONDS


# `counts_toward_streak` in SQL, on a `sessions` row `s` (for logdb.read_day_heads).
COUNTS_TOWARD_STREAK_SQL = (f"s.outcome IN ('completed', 'ended_early')"
                            f" OR s.active_seconds >= {SHORT_INTERRUPTED_SECONDS!r}")


def zone_is_done(zone: ZoneProgress) -> bool:
    """Done means ran to its end: not skipped, and its done seconds reached its plan.

    The one definition for counting "zones done" from the log (`facepace log`); it is the
    same as the summary screen's pacer outcome "done" (a test runs a session through the
    simulator and checks both). A zone cut short when the session ended early, or not
    reached, is neither done nor skipped.
    """
    return not zone.skipped and zone.done_seconds >= zone.planned_seconds - ZONE_END_TOLERANCE_SECONDS


def zones_done_and_skipped(zones: Iterable[ZoneProgress]) -> tuple[int, int]:
    done = skipped = 0
    for zone in zones:
        done += zone_is_done(zone)
        skipped += zone.skipped
    return done, skipped


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def overview(sessions_newest_first: Iterable[SessionRecord], now_wall: float,
             tz: tzinfo | None = None, *, week_totals: tuple[int, float] | None = None) -> Overview:
    """Reads only as far back as it needs: the streak's start or this week's start.
    `week_totals` = (sessions, minutes) this week when the caller has added them up (the log, in SQL):
    then the sessions need only be, of each day, the newest that counts and the newest one."""
    today = local_day(now_wall, tz)
    this_week = week_start(today)
    streak, streak_day, streak_done = 0, None, False
    newest_streak_day = None
    minutes, count = 0.0, 0
    last = None
    for session in sessions_newest_first:
        # A clock set back after a session must not put that session "in the future".
        day = min(local_day(session.wall_start, tz), today)
        if last is None:
            last = session
        if day >= this_week:
            minutes += session.active_seconds / 60
            count += 1
        if not streak_done and counts_toward_streak(session):
            if streak_day is None:
                alive = day >= today - timedelta(days=1)
                streak, streak_day, streak_done = (1, day, False) if alive else (0, day, True)
                newest_streak_day = day
            elif day == streak_day - timedelta(days=1):
                streak, streak_day = streak + 1, day
            elif day < streak_day:
                streak_done = True
        if streak_done and day < this_week:
            break
    if week_totals is not None:
        count, minutes = week_totals
    return Overview(
        streak_days=streak,
        streak_last_day=None if streak == 0 else newest_streak_day,
        minutes_this_week=minutes,
        sessions_this_week=count,
        last_session_wall=None if last is None else last.wall_start,
        last_session_minutes=None if last is None else last.active_seconds / 60,
        last_session_text=None if last is None else describe_last(last, now_wall, tz),
        as_of=today,
    )


def before_this_week(now_wall: float, tz: tzinfo | None = None) -> float:
    """A Unix time before this week's first day begins (two days before, for any zone's
    daylight-saving change): every session `overview` counts minutes of started after it."""
    first_day = week_start(local_day(now_wall, tz))
    return datetime.combine(first_day, datetime.min.time(), tz).timestamp() - 2 * 86400


def overview_on(before: Overview, now_wall: float, tz: tzinfo | None = None) -> Overview | None:
    """`before` as it reads on a later day when no session was added since: what `overview`
    would give then, worked out without reading the log (the idle screen must not wait for it).

    A day without a session ends the streak, a new week starts at 0 minutes, "Today" becomes
    "Yesterday". A day earlier than `before.as_of` changes nothing. None when only the log
    can tell: sessions dated after `as_of` (the clock was set back) count as today's, so
    they move with the date.
    """
    today = local_day(now_wall, tz)
    if before.as_of is None or today <= before.as_of:
        return before
    if before.last_session_wall is not None and local_day(before.last_session_wall, tz) > before.as_of:
        return None
    last_day = before.streak_last_day
    alive = last_day is not None and last_day >= today - timedelta(days=1)
    new_week = week_start(today) != week_start(before.as_of)
    return replace(
        before, as_of=today,
        streak_days=before.streak_days if alive else 0,
        streak_last_day=last_day if alive else None,
        minutes_this_week=0.0 if new_week else before.minutes_this_week,
        sessions_this_week=0 if new_week else before.sessions_this_week,
        last_session_text=None if before.last_session_wall is None else describe_start(
            before.last_session_wall, before.last_session_minutes * 60, now_wall, tz),
    )


def describe_last(session: SessionRecord, now_wall: float, tz: tzinfo | None = None) -> str:
    """"Today, 8 min" / "Yesterday, 8 min" / "Mon, 8 min" / "3 Mar, 8 min"."""
    return describe_start(session.wall_start, session.active_seconds, now_wall, tz)


def describe_start(wall_start: float, active_seconds: float, now_wall: float,
                   tz: tzinfo | None = None) -> str:
    started = datetime.fromtimestamp(wall_start, tz)
    days_ago = (local_day(now_wall, tz) - started.date()).days
    if days_ago <= 0:
        when = "Today"
    elif days_ago == 1:
        when = "Yesterday"
    elif days_ago < 7:
        when = started.strftime("%a")
    else:
        when = f"{started.day} {started.strftime('%b')}"
    return f"{when}, {format_minutes(active_seconds)}"


def format_minutes(seconds: float) -> str:
    """Whole minutes for anything a minute or longer; seconds below that."""
    if seconds < 60:
        return f"{timefmt.whole_seconds_done(seconds)} s"
    return f"{int(round(seconds / 60))} min"


def weekly(sessions: Iterable[SessionRecord], now_wall: float, tz: tzinfo | None = None,
           weeks: int = 8) -> list[WeekStats]:
    """Sessions and minutes for each of the last `weeks` weeks, oldest first (empty weeks too)."""
    today = local_day(now_wall, tz)
    current = week_start(today)
    starts = [current - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    totals = {start: [0, 0.0] for start in starts}
    for session in sessions:
        # As in `overview`: a session dated after now (the clock was set back) is today's.
        bucket = totals.get(week_start(min(local_day(session.wall_start, tz), today)))
        if bucket is not None:
            bucket[0] += 1
            bucket[1] += session.active_seconds / 60
    return [WeekStats(start, *totals[start]) for start in starts]


def zone_minutes(sessions: Iterable[SessionRecord]) -> list[tuple[str, float]]:
    """Minutes actually done per zone id, most first; zones never worked on are left out."""
    totals: dict[str, float] = defaultdict(float)
    for session in sessions:
        for zone in session.zones:
            totals[zone.zone_id] += zone.done_seconds / 60
    return sorted(((zone, minutes) for zone, minutes in totals.items() if minutes > 0),
                  key=lambda item: (-item[1], item[0]))


def longest_streak(sessions: Iterable[SessionRecord], tz: tzinfo | None = None) -> int:
    return longest_run({local_day(s.wall_start, tz) for s in sessions if counts_toward_streak(s)})


def longest_run(days: Iterable[date]) -> int:
    """The most consecutive days among `days`."""
    best = run = 0
    previous = None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best, previous = max(best, run), day
    return best


def current_streak(days: Iterable[date], today: date) -> int:
    """`overview`'s streak from the days with a session that counts, for a caller that has
    added those up instead of keeping the sessions (`facepace report`): the run of days up
    to the newest, if that is today or yesterday; a day after today counts as today."""
    counted = {min(day, today) for day in days}
    newest = max(counted, default=None)
    if newest is None or newest < today - timedelta(days=1):
        return 0
    streak = 0
    while newest - timedelta(days=streak) in counted:
        streak += 1
    return streak
