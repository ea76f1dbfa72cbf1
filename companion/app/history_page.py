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
from typing import Iterable, Sequence

from companion.hostdb import DayTotal
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


def goal_tally(days: Iterable[DayTotal], now_wall: float,
               rules: goals.GoalRules = goals.GoalRules()) -> goals.Tally:
    """The weekly goal's tally of the sessions added up per local day in `rules.tz`
    (`HostDb.day_totals`)."""
    added = goals.Tally(goals.today_of(now_wall, rules), rules)
    for day in days:
        added.add_day(day.day, day.sessions, day.active_seconds / 60, day.counted)
    return added


def goal_numbers(added: goals.Tally) -> GoalNumbers:
    """This week against the weekly goal, and the current and longest streak of met weeks."""
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


def days_minutes(days: Iterable[DayTotal], today: date) -> dict[date, float]:
    """Minutes per local day; a session dated after today (a clock set back) counts for today,
    as in `history.overview`."""
    minutes: dict[date, float] = defaultdict(float)
    for day in days:
        minutes[min(day.day, today)] += day.active_seconds / 60
    return minutes


def build(days: Sequence[DayTotal], routine_sessions: Sequence[tuple[str, int]],
          zone_seconds: dict[tuple[str, str], float], library: RoutineLibrary, now_wall: float,
          tz: tzinfo | None = None) -> HistoryView:
    """From the database's sums (`HostDb`): `days`, the sessions per local day in `tz`
    (`day_totals`); `routine_sessions`, (routine name, sessions), the most recently run first
    (`routine_sessions`); `zone_seconds`, seconds done per (routine name, zone id)
    (`zone_seconds`), shown by the zone's title in the routine the session ran, as the report
    picture shows them."""
    today = history.local_day(now_wall, tz)
    per_day = days_minutes(days, today)
    first = history.week_start(today) - timedelta(weeks=CALENDAR_WEEKS - 1)
    weeks, months = [], []
    for column in range(CALENDAR_WEEKS):
        monday = first + timedelta(weeks=column)
        week = [monday + timedelta(days=offset) for offset in range(7)]
        weeks.append([Day(day, per_day.get(day, 0.0), level_of(per_day.get(day, 0.0)))
                      if day <= today else None for day in week])
        starts = next((day for day in week if day.day == 1), None)
        if starts is not None or column == 0:
            months.append((column, (starts or monday).strftime("%b")))
    per_title = report.seconds_per_title(zone_seconds, report.zone_titles(library.routines))
    routine_titles = {routine.name: routine.title for routine in library.routines}
    per_routine: Counter[str] = Counter()   # two routines of one title are one line
    for name, sessions in routine_sessions:
        per_routine[routine_titles.get(name, name)] += sessions
    return HistoryView(
        total_sessions=sum(day.sessions for day in days),
        estimated=sum(day.estimated for day in days),
        goal=goal_numbers(goal_tally(days, now_wall, goals.GoalRules(tz=tz))),
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
