"""The History page adds the sessions up per local day in SQL (`HostDb.day_totals`) and feeds
the days to the weekly goal's rules (`goals.Tally.add_day`): the numbers must be those the rules
give session by session (`goals.tally`), in any time zone, for any goal, week start and rest."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from companion.app.history_page import days_minutes, goal_numbers, goal_tally
from companion.hostdb import HostDb
from device.log import goals
from device.log.logdb import SessionRecord, ZoneProgress
from device.settings.goal import Rest

NOW = 1_796_300_000.0          # Thu 3 Dec 2026, 12:13 UTC
DAY = 86_400.0
# Whole, half and quarter hours; both sides of the date line; a 30-minute DST (Lord Howe).
ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles", "America/St_Johns", "Asia/Kathmandu",
         "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago")
PLANS = st.lists(st.sampled_from([0.0, 30.0, 60.0, 180.0, 361.0]), max_size=4)   # the zones' plans


@st.composite
def session(draw) -> tuple:
    """(start, active seconds, the zones' plans, date quality, device): often just either side of
    what counts (half the whole plan, MIN_COUNTED_SECONDS)."""
    plans = draw(PLANS)
    edge = draw(st.sampled_from([0.0, 0.499, 0.5, 0.501])) * sum(plans)
    active = draw(st.one_of(st.just(round(edge, 3)), st.sampled_from([179.999, 180.0, 600.0]),
                            st.floats(0, 1800, allow_nan=False).map(lambda s: round(s, 3))))
    # Within three weeks, so days often hold several sessions; a few after now (a clock set back).
    start = NOW + draw(st.integers(-20, 1)) * DAY + draw(st.floats(-DAY / 2, DAY / 2))
    return (start, active, plans, draw(st.sampled_from(["clock", "host", "estimated"])),
            draw(st.sampled_from(["pace-a", "pace-b"])))


def record(number: int, wall_start: float, active: float, plans: list[float], device: str) -> SessionRecord:
    return SessionRecord(
        id=f"s-{number}", device_id=device, routine_name="daily", routine_hash="sha256:x", intensity=3,
        wall_start=wall_start, wall_trusted=True, boot_id="boot", mono_start=float(number),
        active_seconds=active, outcome="completed", wall_end=wall_start + active, seq=number + 1,
        zones=tuple(ZoneProgress(f"z{position}", plan, min(plan, active)) for position, plan in enumerate(plans)))


@st.composite
def rules(draw) -> goals.GoalRules:
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    today = goals.local_day(NOW, tz)
    rests = ()
    if draw(st.booleans()):
        first = today + timedelta(days=draw(st.integers(-40, 3)))
        rests = (Rest(first, first + timedelta(days=draw(st.integers(0, 9)))),)
    return goals.GoalRules(weekly_goal=draw(st.integers(1, 7)), week_start=draw(st.integers(0, 6)), tz=tz,
                           rests=rests)


@settings(derandomize=True, deadline=None, max_examples=80)
@given(st.lists(session(), max_size=40), rules(), st.sampled_from([None, "pace-a"]))
# Just under half its whole plan: not counted, though over half of either zone's.
@example([(NOW - 3600, 59.88, [60.0, 60.0], "clock", "pace-a")], goals.GoalRules(tz=ZoneInfo("UTC")), None)
def test_the_days_sums_give_the_rules_numbers_session_by_session(sessions, rules, device):
    records = [(record(number, *fields[:3], fields[4]), fields[3]) for number, fields in enumerate(sessions)]
    with tempfile.TemporaryDirectory() as folder, HostDb.open(Path(folder) / "synced.db") as db:
        for name in ("pace-a", "pace-b"):
            mine = [(r, quality) for r, quality in records if r.device_id == name]
            if mine:
                db.store_batch(name, f"log-{name}", mine, mine[-1][0].seq)
        days = db.day_totals(device_id=device, tz=rules.tz)
    chosen = [(r, quality) for r, quality in records if device in (None, r.device_id)]

    added = goals.tally((goals.from_record(r) for r, _ in chosen), NOW, rules)
    by_days = goal_tally(days, NOW, rules)
    assert by_days.today == added.today and by_days.counted == added.counted
    assert by_days.totals.keys() == added.totals.keys()
    for week, (sessions_in_week, minutes) in added.totals.items():
        assert by_days.totals[week] == [sessions_in_week, pytest.approx(minutes, abs=1e-9)]
    numbers = goal_numbers(by_days)
    standing = goals.progress_of(added)
    week = standing.this_week
    assert (numbers.days_done, numbers.days_needed, numbers.sessions_this_week, numbers.current_streak,
            numbers.longest_streak) == (week.days_done, week.needed, week.sessions, standing.streak_weeks,
                                        goals.longest_of(added))

    assert sum(day.sessions for day in days) == len(chosen)
    assert sum(day.estimated for day in days) == sum(quality == "estimated" for _, quality in chosen)
    minutes = defaultdict(float)   # the calendar: a session after today is today's
    for r, _ in chosen:
        minutes[min(goals.local_day(r.wall_start, rules.tz), added.today)] += r.active_seconds / 60
    assert days_minutes(days, added.today) == pytest.approx(dict(minutes), abs=1e-9)
