"""The idle screen's overview and the goal's sessions, added up by SQLite (issue 12), against
the computation over whole session records that they replace, on fuzzed logs."""

from __future__ import annotations

import dataclasses
import math
import os
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from contextlib import closing, contextmanager
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from device.log import goals, history, logdb
from device.log.sessionlog import SessionLog

DAY = 86400.0
# Noon UTC on a plain day, and on the days Europe and Brazil/Chile change their clocks.
NOWS = [1_717_000_000.0, 1_711_886_400.0, 1_729_944_000.0, 1_712_491_200.0]
ZONES = ["Europe/Berlin", "Pacific/Auckland", "America/Santiago", "Asia/Kolkata"]
DENSE = st.integers(-4, 16)                     # a streak's days, this week, the clock set back
SPARSE = st.integers(-2, 420)                   # beyond the 400 days read, too
OUTCOME = st.sampled_from(["completed", "ended_early", "interrupted", None])
ACTIVE = st.one_of(st.sampled_from([0.0, 59.9, 60.0]), st.floats(0, 3600))
PLANS = st.lists(st.floats(1, 600), max_size=3)
session = st.tuples(st.one_of(DENSE, SPARSE), st.floats(0, DAY - 1), OUTCOME, ACTIVE, PLANS)
# A session a day back from today, for as long as the list goes: a streak that reaches back
# past this week, to be broken where one of them does not count.
streak = st.lists(st.tuples(st.floats(0, DAY - 1), OUTCOME, ACTIVE, PLANS), max_size=30).map(
    lambda days: [(day, *rest) for day, rest in enumerate(days)])


@contextmanager
def system_zone(name: str | None):
    """The process's own zone (TZ) set to `name`, for the system-local path (tz None)."""
    before = os.environ.get("TZ")
    if name is not None:
        os.environ["TZ"] = name
        time.tzset()
    try:
        yield
    finally:
        if name is not None:
            if before is None:
                del os.environ["TZ"]
            else:
                os.environ["TZ"] = before
            time.tzset()


def assert_same(summed: history.Overview, walked: history.Overview) -> None:
    """Equal, the minutes to the last bits of a float: SQLite adds the seconds up in its own order
    and divides once (what the screen shows is whole minutes)."""
    assert summed.minutes_this_week == pytest.approx(walked.minutes_this_week, rel=1e-12, abs=1e-12)
    assert dataclasses.replace(summed, minutes_this_week=0.0) == dataclasses.replace(walked, minutes_this_week=0.0)


def filled_log(folder: Path, now: float, tz, sessions) -> SessionLog:
    log = SessionLog.open(folder / "sessions.db", tz=tz, wall_time=lambda: now, clock_synced=lambda: True,
                          boot_id_path=folder / "no-boot-id")
    with closing(sqlite3.connect(folder / "sessions.db")) as db, db:
        for seq, (days, seconds, outcome, active, plans) in enumerate(sessions, 1):
            sid = str(uuid.UUID(int=seq))
            wall = now - days * DAY - seconds
            db.execute("INSERT INTO sessions (id, seq, device_id, routine_name, routine_hash, intensity,"
                       " wall_start, wall_end, wall_trusted, boot_id, mono_start, active_seconds, outcome,"
                       " zone_count) VALUES (?, ?, 'd', ?, 'h', 3, ?, ?, 1, 'b', 0, ?, ?, ?)",
                       (sid, seq if outcome else None, f"r{seq % 3}", wall, wall + active, active,
                        outcome, len(plans)))
            db.executemany("INSERT INTO zones (session_id, position, zone_id, planned_seconds) VALUES (?, ?, ?, ?)",
                           [(sid, position, f"z{position}", plan) for position, plan in enumerate(plans)])
    return log


@settings(derandomize=True, deadline=None, max_examples=80)
@given(st.lists(session, max_size=30), streak, st.sampled_from(NOWS), st.sampled_from(ZONES), st.booleans())
def test_the_overview_from_sql_is_the_overview_from_every_session(sessions, daily, now, zone, system):
    sessions = sessions + daily
    tz = None if system else ZoneInfo(zone)
    with system_zone(zone if system else None), tempfile.TemporaryDirectory() as name:
        with filled_log(Path(name), now, tz, sessions) as log:
            every_session = log.sessions(since=now - 400 * DAY)   # what the overview read before
            assert_same(log.overview(now), history.overview(every_session, now, tz))


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.floats(0, 1e5), st.lists(st.floats(0, 1e4), max_size=3))
@example(180.0, [])
@example(179.9, [])
@example(90.0, [180.0])
@example(89.9, [180.0])
@example(180.0, [1000.0])
def test_the_counting_rule_in_sql_is_the_rule(active, plans):
    planned = math.fsum(plans)
    with closing(sqlite3.connect(":memory:")) as db:
        sql = goals.counts_sql("?", "?")
        # The placeholders in the order the SQL names them: active, planned, active, planned.
        assert bool(db.execute(f"SELECT {sql}", [active, planned, active, planned]).fetchone()[0]) \
            == goals.counts(active, planned)


@settings(derandomize=True, deadline=None, max_examples=60)
@given(st.lists(session, max_size=30), streak, st.sampled_from(NOWS), st.sampled_from(ZONES), st.booleans(),
       st.integers(0, 60))
def test_the_goal_s_days_from_sql_are_the_goal_from_every_record(sessions, daily, now, zone, system, back):
    """Days, weeks and the gentle start's counts added up by SQLite are those of `goals.tally`
    and `goals.counts` over every record, from any first day, in the system's zone or a named one."""
    sessions = sessions + daily
    tz = None if system else ZoneInfo(zone)
    rules = goals.GoalRules(tz=tz)
    with system_zone(zone if system else None), tempfile.TemporaryDirectory() as name:
        with filled_log(Path(name), now, tz, sessions) as log:
            today = goals.today_of(now, rules)
            first_day = today - timedelta(days=back)
            records = [r for r in log.sessions() if goals.local_day(r.wall_start, tz) >= first_day]
            walked = goals.tally(goals.from_records(records), now, rules)
            summed = goals.Tally(today, rules)
            for row in log.goal_days(first_day, tz):
                summed.add_day(date.fromisoformat(row.day), row.sessions, row.active_seconds / 60, row.counted)
            assert summed.counted == walked.counted
            assert summed.totals.keys() == walked.totals.keys()
            for week, (count, minutes) in walked.totals.items():
                assert summed.totals[week][0] == count
                assert summed.totals[week][1] == pytest.approx(minutes, rel=1e-12, abs=1e-9)
            middle = first_day + timedelta(days=back // 2)
            for before_day in (None, middle):
                kept = [r for r in records if before_day is None or goals.local_day(r.wall_start, tz) < before_day]
                assert log.counted_by_routine(first_day, tz, before_day) == Counter(
                    r.routine_name for r, done in zip(kept, goals.from_records(kept))
                    if goals.counts(done.active_seconds, done.planned_seconds))


def test_the_overview_reads_one_session_a_day_and_no_zones(tmp_path):
    now, tz = NOWS[0], ZoneInfo("Europe/Berlin")
    # Five sessions a day for 100 days: the streak goes back 100 days.
    sessions = [(days, hour * 3600.0, "completed", 300.0, [300.0]) for days in range(100) for hour in range(5)]
    with filled_log(tmp_path, now, tz, sessions) as log:
        read, (count, minutes) = log.read_for_overview(now)
        assert log.overview(now).streak_days == 100
    days = {history.local_day(r.wall_start, tz) for r in read}
    assert len(days) == 100 and len(read) <= len(days) + 1          # the newest, and one a day
    assert all(isinstance(r, logdb.Brief) for r in read)            # no zones
    this_week = (history.local_day(now, tz) - history.week_start(history.local_day(now, tz))).days + 1
    assert count == 5 * this_week and minutes == 5 * count          # added up in SQL


def test_the_streak_counts_days_in_the_system_zone_and_the_minute_rule(tmp_path):
    """Days are the system zone's (TZ), not UTC's, and an interrupted session counts from a
    minute on: each of the 20 days before today has a session just after its local midnight
    and one just before its end, except day 8 back, which has only the late one (the same UTC
    day as the next day's early one), and day 12 back, only an interrupted one of 60 s."""
    now = NOWS[0]   # noon UTC: past midnight in Auckland
    with system_zone("Pacific/Auckland"):
        today = history.local_day(now)
        midnight = history.before_this_week(now) + 2 * DAY   # this week's first local midnight
        days_back = (today - history.week_start(today)).days
        sessions = []
        for back in range(1, 21):
            start = midnight - (back - days_back) * DAY   # a local midnight, `back` days ago
            early = ((now - start - 600) / DAY, 0.0, "completed", 300.0, [])        # 00:10
            late = ((now - start - DAY + 600) / DAY, 0.0, "completed", 300.0, [])   # 23:50
            if back == 8:
                sessions.append(late)
            elif back == 12:
                sessions.append(((now - start - 600) / DAY, 0.0, "interrupted", 60.0, []))
            else:
                sessions += [early, late]
        with filled_log(tmp_path, now, None, sessions) as log:
            every_session = log.sessions(since=now - 400 * DAY)
            assert_same(log.overview(now), history.overview(every_session, now))
            assert log.overview(now).streak_days == 20
