"""The History page's numbers, from the computer's synced sessions.

The weekly goal and the streak of weeks come from `device.log.goals`, zone titles from
`device.log.report`: the functions `facepace stats`, `history`, the report picture and the
device's screens use. This module only arranges them for the page (a year calendar, titles
instead of zone ids, readable units).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Sequence

from device.base import timefmt
from device.log import goals, history, report
from device.log.logdb import SessionRecord
from device.settings.routines import RoutineLibrary

# The calendar's shades: a day with no minutes, then under each bound (minutes), then the rest.
BOUNDS = (5.0, 10.0, 20.0)
LEGEND = ("none", "under 5 min", "5-10 min", "10-20 min", "20 min or more")
CALENDAR_WEEKS = 53


@dataclass(frozen=True)
class GoalNumbers:
    days_done: int            # this week's days with a session that counts
    days_needed: int          # what the goal asks of this week (fewer in a rest; 0: skipped)
    sessions_this_week: int
    minutes_this_week: float
    current_streak: int       # weeks in a row that met the goal
    longest_streak: int


def goal_numbers(planned_newest_first: Sequence[tuple[SessionRecord, float]], now_wall: float,
                 rules: goals.GoalRules = goals.GoalRules()) -> GoalNumbers:
    """This week against the weekly goal, and the current and longest streak of met weeks,
    from (session, its planned seconds) pairs: a session counts by its share of its plan."""
    added = goals.tally((goals.Done(record.wall_start, record.active_seconds, planned)
                         for record, planned in planned_newest_first), now_wall, rules)
    standing = goals.progress_of(added)
    week = standing.this_week
    return GoalNumbers(week.days_done, week.needed, week.sessions, week.minutes,
                       standing.streak_weeks, goals.longest_of(added))


@dataclass(frozen=True)
class Day:
    day: date
    minutes: float
    level: int                # 0..len(BOUNDS): the shade


@dataclass(frozen=True)
class HistoryView:
    total_sessions: int
    estimated: int                            # sessions whose dates are estimated
    goal: GoalNumbers
    weeks: list[list[Day | None]]             # oldest first; Monday..Sunday, None after today
    months: list[tuple[int, str]]             # (week column, month name) where a month starts
    legend: list[tuple[int, str]]
    zones: list[tuple[str, str]]              # (zone title, time), most first
    routines: list[tuple[str, int]]           # (routine title, sessions), most first


def level_of(minutes: float) -> int:
    """0 for a day without minutes, then 1.. by BOUNDS."""
    if minutes <= 0:
        return 0
    return 1 + sum(minutes >= bound for bound in BOUNDS)


def minutes_text(minutes: float) -> str:
    """"45 min" under an hour, "1:05 h" past one."""
    whole = int(round(minutes))
    return f"{whole} min" if whole < 60 else f"{whole // 60}:{whole % 60:02d} h"


def days_minutes(sessions: Sequence[SessionRecord], today: date, tz: tzinfo | None = None) -> dict[date, float]:
    """Minutes per local day; a session dated after today (a clock set back) counts for today,
    as in `history.overview`."""
    minutes: dict[date, float] = defaultdict(float)
    for session in sessions:
        minutes[min(history.local_day(session.wall_start, tz), today)] += session.active_seconds / 60
    return minutes


def build(rows: Sequence[tuple[SessionRecord, str, float]], zone_seconds: dict[tuple[str, str], float],
          library: RoutineLibrary, now_wall: float, tz: tzinfo | None = None) -> HistoryView:
    """`rows`: (session, date quality, planned seconds), newest first, as
    `HostDb.sessions_with_plans` gives them (zones not needed); `zone_seconds`: seconds done
    per (routine name, zone id) (`HostDb.zone_seconds`), shown by the zone's title in the
    routine the session ran, as the report picture shows them."""
    sessions = [record for record, _, _ in rows]
    today = history.local_day(now_wall, tz)
    per_day = days_minutes(sessions, today, tz)
    first = history.week_start(today) - timedelta(weeks=CALENDAR_WEEKS - 1)
    weeks, months = [], []
    for column in range(CALENDAR_WEEKS):
        monday = first + timedelta(weeks=column)
        days = [monday + timedelta(days=offset) for offset in range(7)]
        weeks.append([Day(day, per_day.get(day, 0.0), level_of(per_day.get(day, 0.0)))
                      if day <= today else None for day in days])
        starts = next((day for day in days if day.day == 1), None)
        if starts is not None or column == 0:
            months.append((column, (starts or monday).strftime("%b")))
    per_title = report.seconds_per_title(zone_seconds, report.zone_titles(library.routines))
    routine_titles = {routine.name: routine.title for routine in library.routines}
    per_routine = Counter(routine_titles.get(s.routine_name, s.routine_name) for s in sessions)
    return HistoryView(
        total_sessions=len(sessions),
        estimated=sum(quality == "estimated" for _, quality, _ in rows),
        goal=goal_numbers([(record, planned) for record, _, planned in rows], now_wall, goals.GoalRules(tz=tz)),
        weeks=weeks, months=months,
        legend=list(enumerate(LEGEND)),
        zones=[(title, minutes_text(seconds / 60)) for title, seconds in per_title],
        routines=per_routine.most_common(),
    )


@dataclass(frozen=True)
class SessionLine:
    """One session as the day and session pages show it."""

    record: SessionRecord
    quality: str
    routine_title: str
    started: str              # "08:15", "08:15?" when estimated
    length: str
    outcome: str
    zones: list[dict]


OUTCOMES = {"completed": "completed", "ended_early": "ended early", "interrupted": "interrupted (power or crash)",
            None: "still open"}


def session_line(record: SessionRecord, quality: str, library: RoutineLibrary,
                 titles: dict[tuple[str | None, str], str], tz: tzinfo | None = None) -> SessionLine:
    routine = library.get(record.routine_name)
    started = datetime.fromtimestamp(record.wall_start, tz).strftime("%H:%M")
    return SessionLine(
        record=record, quality=quality,
        routine_title=routine.title if routine else record.routine_name,
        started=started + ("?" if quality == "estimated" else ""),
        length=history.format_minutes(record.active_seconds),
        outcome=OUTCOMES.get(record.outcome, str(record.outcome)),
        zones=[{"title": report.title_of(record.routine_name, zone.zone_id, titles),
                "planned": timefmt.duration(zone.planned_seconds),
                "done": timefmt.duration(zone.done_seconds),
                "state": "skipped" if zone.skipped else "done" if history.zone_is_done(zone)
                else "part" if zone.done_seconds > 0 else "not reached",
                "fraction": min(1.0, zone.done_seconds / zone.planned_seconds) if zone.planned_seconds else 1.0}
               for zone in record.zones],
    )
