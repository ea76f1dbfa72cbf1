"""The weekly goal's rules on fixed dates in several time zones (device/log/goals.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from device.log import goals
from device.log.goals import Done, GoalRules, Rest

PARIS = ZoneInfo("Europe/Paris")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
AUCKLAND = ZoneInfo("Pacific/Auckland")
DAILY = 480.0   # the daily routine's plan, seconds


def at(day: date, hour: int, minute: int, tz) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp()


def session(day: date, tz, *, hour: int = 8, minute: int = 0, active: float = DAILY,
            planned: float = DAILY) -> Done:
    return Done(at(day, hour, minute, tz), active, planned)


def on(days: list[date], tz, **kwargs) -> list[Done]:
    return [session(day, tz, **kwargs) for day in days]


def week_of(monday: date, *weekdays: int) -> list[date]:
    return [monday + timedelta(days=weekday) for weekday in weekdays]


# --- what counts ------------------------------------------------------------------------------

@pytest.mark.parametrize("active, planned, counted", [
    (89.9, 180, False), (90, 180, True),        # a 3-minute routine: half of it
    (179.9, 480, False), (180, 480, True),      # the 8-minute one: 3 minutes
    (179.9, 0, False), (180, 0, True),          # no plan known: 3 minutes
    (10, 20, True), (9, 20, False),             # a tiny routine of one's own: half of it
])
def test_a_session_counts_from_half_its_plan_or_three_minutes_whichever_is_less(active, planned, counted):
    assert goals.counts(active, planned) is counted


def test_a_short_session_does_not_make_a_day():
    monday = date(2026, 11, 2)
    done = on(week_of(monday, 0, 1, 2, 3), PARIS) + [session(monday + timedelta(days=4), PARIS, active=60)]
    week = goals.progress(done, at(monday + timedelta(days=6), 20, 0, PARIS), GoalRules(tz=PARIS)).this_week
    assert (week.days_done, week.sessions, week.met) == (4, 5, False)


# --- weeks and the streak -------------------------------------------------------------------------

def test_four_of_five_then_a_met_week_paris():
    rules = GoalRules(tz=PARIS)
    first, second = date(2026, 11, 2), date(2026, 11, 9)
    done = on(week_of(first, 0, 1, 2, 3), PARIS) + on(week_of(second, 0, 1, 2, 3, 4), PARIS)
    # Thursday of the second week, 4 days done: not met yet, can still be; the short week before
    # is no streak.
    thursday = goals.progress(done[:-1], at(second + timedelta(days=3), 21, 0, PARIS), rules)
    assert (thursday.this_week.days_done, thursday.this_week.met, thursday.can_still_meet) == (4, False, True)
    assert thursday.streak_weeks == 0
    friday = goals.progress(done, at(second + timedelta(days=4), 21, 0, PARIS), rules)
    assert friday.this_week.met and friday.streak_weeks == 1
    # The next Monday morning, nothing done yet: last week's streak still stands.
    monday = goals.progress(done, at(date(2026, 11, 16), 7, 0, PARIS), rules)
    assert (monday.this_week.days_done, monday.streak_weeks, monday.can_still_meet) == (0, 1, True)
    assert [week.met for week in goals.weeks(done, at(date(2026, 11, 16), 7, 0, PARIS), rules, 3)] == \
        [False, True, False]


def test_a_missed_day_mid_week_still_meets_the_goal_los_angeles():
    monday = date(2026, 11, 9)
    done = on(week_of(monday, 0, 1, 3, 4, 5), LOS_ANGELES, hour=22, minute=30)   # Wednesday missed
    result = goals.progress(done, at(monday + timedelta(days=5), 23, 0, LOS_ANGELES), GoalRules(tz=LOS_ANGELES))
    assert result.this_week.met and result.streak_weeks == 1
    # The same instants read in Paris fall on the next day: Saturday's is a Sunday there, and the
    # week is still met; a day counted wrongly would show here.
    paris = goals.progress(done, at(monday + timedelta(days=6), 20, 0, PARIS), GoalRules(tz=PARIS)).this_week
    assert paris.days_done == 5


def test_two_sessions_on_one_day_are_one_day():
    monday = date(2026, 11, 9)
    done = on(week_of(monday, 0, 0, 1, 1, 2), PARIS)
    assert goals.progress(done, at(monday + timedelta(days=2), 20, 0, PARIS),
                          GoalRules(tz=PARIS)).this_week.days_done == 3


def test_this_week_never_breaks_the_streak_while_it_can_still_be_met():
    rules = GoalRules(tz=PARIS)
    before, monday = date(2026, 11, 2), date(2026, 11, 9)
    done = on(week_of(before, 0, 1, 2, 3, 4), PARIS) + [session(monday, PARIS)]
    # Thursday: 1 done, Thu..Sun left = 5: can still be met.
    thursday = goals.progress(done, at(monday + timedelta(days=3), 9, 0, PARIS), rules)
    assert (thursday.can_still_meet, thursday.streak_weeks) == (True, 1)
    # Friday: 1 done, 3 days left: the goal of 5 cannot be met, the streak is 0.
    friday = goals.progress(done, at(monday + timedelta(days=4), 9, 0, PARIS), rules)
    assert (friday.can_still_meet, friday.streak_weeks) == (False, 0)


def test_weeks_start_on_the_day_the_settings_say():
    sunday = date(2026, 11, 8)
    done = on([sunday + timedelta(days=offset) for offset in range(5)], PARIS)   # Sun..Thu
    now = at(date(2026, 11, 12), 20, 0, PARIS)
    assert goals.progress(done, now, GoalRules(tz=PARIS)).this_week.days_done == 4        # Mon..Thu
    on_sunday = goals.progress(done, now, GoalRules(tz=PARIS, week_start=6)).this_week
    assert (on_sunday.start, on_sunday.days_done, on_sunday.met) == (sunday, 5, True)


def test_days_follow_the_local_calendar_across_a_dst_change_auckland():
    # New Zealand's clocks go forward on Sunday 27 September 2026 (a 23-hour day). A session at
    # 23:50 every night of that week is one a day, all in the week that ends on the change.
    monday = date(2026, 9, 21)
    done = on(week_of(monday, 0, 1, 2, 3, 4, 5, 6), AUCKLAND, hour=23, minute=50)
    result = goals.progress(done, at(monday + timedelta(days=6), 23, 59, AUCKLAND), GoalRules(tz=AUCKLAND, weekly_goal=7))
    assert (result.this_week.days_done, result.this_week.met) == (7, True)
    # 00:10 on the Monday after is the next week's.
    after = done + [session(date(2026, 9, 28), AUCKLAND, hour=0, minute=10)]
    nextweek = goals.progress(after, at(date(2026, 9, 28), 12, 0, AUCKLAND), GoalRules(tz=AUCKLAND, weekly_goal=7))
    assert (nextweek.this_week.days_done, nextweek.streak_weeks) == (1, 1)


def test_days_follow_the_local_calendar_across_a_dst_change_paris():
    # Paris goes back an hour on Sunday 25 October 2026 (a 25-hour day): its 23:30 is Sunday's.
    sunday = date(2026, 10, 25)
    done = [session(sunday, PARIS, hour=23, minute=30)]
    week = goals.progress(done, at(sunday, 23, 45, PARIS), GoalRules(tz=PARIS)).this_week
    assert (week.start, week.days_done) == (date(2026, 10, 19), 1)


def test_a_session_dated_after_now_is_todays():
    monday = date(2026, 11, 9)
    done = [session(monday + timedelta(days=10), PARIS)]     # the clock was set back since
    assert goals.progress(done, at(monday, 20, 0, PARIS), GoalRules(tz=PARIS)).this_week.days_done == 1


def test_longest_streak_counts_met_weeks_in_a_row():
    rules = GoalRules(tz=PARIS, weekly_goal=2)
    monday = date(2026, 10, 5)
    met_weeks = [0, 1, 2, 4]      # week 3 missed
    done = [session(monday + timedelta(weeks=week, days=day), PARIS) for week in met_weeks for day in (0, 1)]
    now = at(monday + timedelta(weeks=4, days=3), 12, 0, PARIS)
    assert goals.longest_streak(done, now, rules) == 3
    assert goals.progress(done, now, rules).streak_weeks == 1


# --- rest ---------------------------------------------------------------------------------------------

def test_a_rest_across_a_week_boundary_shrinks_both_weeks_goals_los_angeles():
    rest = Rest(date(2026, 11, 20), date(2026, 11, 24))        # Friday to the next Tuesday
    rules = GoalRules(tz=LOS_ANGELES, rests=(rest,))
    first, second = date(2026, 11, 16), date(2026, 11, 23)
    assert goals.needed_in(first, 5, rules.rests) == (2, 3)    # 5 x 4/7, rounded down
    assert goals.needed_in(second, 5, rules.rests) == (3, 2)   # 5 x 5/7
    done = on(week_of(date(2026, 11, 9), 0, 1, 2, 3, 4), LOS_ANGELES) + on(week_of(first, 0, 1), LOS_ANGELES) \
        + on(week_of(second, 2, 3, 4), LOS_ANGELES)
    now = at(second + timedelta(days=4), 20, 0, LOS_ANGELES)
    assert goals.progress(done, now, rules).streak_weeks == 3
    # Without the rest the two short weeks would have ended it.
    assert goals.progress(done, now, GoalRules(tz=LOS_ANGELES)).streak_weeks == 0


def test_a_week_mostly_in_rest_is_skipped_not_broken():
    rest = Rest(date(2026, 11, 14), date(2026, 11, 26))
    rules = GoalRules(tz=PARIS, rests=(rest,))
    done = on(week_of(date(2026, 11, 2), 0, 1, 2, 3, 4), PARIS) + on(week_of(date(2026, 11, 9), 0, 1, 2), PARIS)
    # Week of the 9th: Sat and Sun resting, needs 3, has 3. Week of the 16th: all rest, skipped.
    # Week of the 23rd: Mon..Thu resting, skipped as well; today is its Friday.
    now = at(date(2026, 11, 27), 9, 0, PARIS)
    result = goals.progress(done, now, rules)
    assert result.this_week.skipped and result.streak_weeks == 2 and result.resting_until is None
    assert goals.progress(done, at(date(2026, 11, 20), 9, 0, PARIS), rules).resting_until == date(2026, 11, 26)


def test_setting_and_ending_rests():
    today = date(2026, 12, 3)
    earlier = Rest(date(2026, 10, 1), date(2026, 10, 7))
    running = Rest(date(2026, 12, 1), date(2026, 12, 5))
    rests = goals.rest_added((earlier, running), today, date(2026, 12, 14))
    # The earlier rest is remembered (its weeks still count as rested), the running one keeps
    # its days so far, and the new one runs to the 14th.
    assert rests == (earlier, Rest(date(2026, 12, 1), date(2026, 12, 2)), Rest(today, date(2026, 12, 14)))
    assert goals.resting_until(rests, today) == date(2026, 12, 14)
    assert goals.resting_until(rests, date(2026, 12, 1)) == date(2026, 12, 14)   # touching rests are one
    ended = goals.rest_ended(rests, date(2026, 12, 6))
    assert ended[-1] == Rest(today, date(2026, 12, 5)) and goals.resting_until(ended, date(2026, 12, 6)) is None
    assert goals.rest_ended((Rest(today, date(2026, 12, 9)),), today) == ()
    many = ()
    for week in range(40):
        many = goals.rest_added(many, today + timedelta(weeks=week), today + timedelta(weeks=week, days=1))
    assert len(many) == goals.MAX_REST_PERIODS and many[-1].first == today + timedelta(weeks=39)


@pytest.mark.parametrize("value, problem", [
    (["2026-12-01/2026-12-14"], None),
    ([], None),
    ("2026-12-01/2026-12-14", "must be a list"),
    (["2026-12-14/2026-12-01"], "first day first"),
    (["2026-02-30/2026-03-01"], "like"),
    (["2026-12-01"], "like"),
    (["2026-01-01/2027-06-01"], "1..366 days"),
    (["2026-12-01/2026-12-02"] * 27, "at most 26"),
])
def test_rest_periods_are_checked(value, problem):
    found = goals.rests_problem(value)
    assert (found is None) if problem is None else (problem in found)
    if problem is None:
        assert [rest.interval() for rest in goals.parse_rests(value)] == value


@pytest.mark.parametrize("value, ok", [
    ("After brushing teeth", True), ("", True), ("Après le café", True),
    ("After brushing my teeth", False),      # 23 characters
    ("Nach dem Zähneputzen!", True), ("coffee \u2615", False), ("two\nlines", False), (3, False),
])
def test_the_anchor_phrase_is_one_printable_line(value, ok):
    assert (goals.anchor_problem(value) is None) is ok


# --- gentle start ---------------------------------------------------------------------------------------

def test_gentle_start_ramps_up_to_the_chosen_level():
    assert [goals.gentle_level(5, before, 5) for before in range(7)] == [3, 3, 3, 4, 4, 5, 5]
    assert [goals.gentle_level(2, before, 5) for before in range(6)] == [1, 1, 1, 1, 1, 2]
    assert [goals.gentle_session_number(before, 5) for before in range(6)] == [1, 2, 3, 4, 5, None]


def test_gentle_start_off_or_overridden_gives_the_chosen_level():
    assert goals.gentle_level(4, 0, 0) == 4
    assert goals.gentle_session_number(0, 0) is None
    # The person raised the level with the hold: it is theirs, at once.
    assert goals.gentle_level(5, 0, 5, overridden=True) == 5


def test_sessions_counted_for_the_gentle_start_use_the_counting_rule():
    done = [Done(0, 200, 480), Done(0, 60, 480), Done(0, 100, 180)]
    assert goals.sessions_counted(done) == 2


# --- phrases ------------------------------------------------------------------------------------------

def test_phrases():
    assert goals.resting_phrase(date(2026, 12, 14)) == "Resting until Mon 14 Dec"
    monday = date(2026, 11, 9)
    done = on(week_of(monday, 0, 1, 2), PARIS)
    result = goals.progress(done, at(monday + timedelta(days=2), 20, 0, PARIS), GoalRules(tz=PARIS))
    assert goals.summary_phrase(result) == "Week: 3 of 5 days"
    assert goals.week_line(result, 5) == "This week: 3 of 5 days · no streak yet (goal 5 days a week)"


# --- any log --------------------------------------------------------------------------------------------

@settings(derandomize=True, deadline=None, max_examples=150)
@given(st.lists(st.tuples(st.integers(0, 120), st.integers(0, 23), st.floats(0, 900)), max_size=60),
       st.integers(1, 7), st.integers(0, 6), st.integers(0, 130),
       st.lists(st.tuples(st.integers(0, 130), st.integers(0, 20)), max_size=4))
def test_any_log_gives_a_streak_no_longer_than_the_longest(sessions, goal, first_weekday, now_day, rest_spans):
    start = date(2026, 8, 1)
    rests = tuple(Rest(start + timedelta(days=first), start + timedelta(days=first + length))
                  for first, length in rest_spans)
    rules = GoalRules(weekly_goal=goal, week_start=first_weekday, tz=AUCKLAND, rests=rests)
    done = [session(start + timedelta(days=day), AUCKLAND, hour=hour, active=active) for day, hour, active in sessions]
    now = at(start + timedelta(days=now_day), 12, 0, AUCKLAND)
    result = goals.progress(done, now, rules)
    assert 0 <= result.streak_weeks <= goals.longest_streak(done, now, rules)
    assert result.this_week.days_done <= 7 and result.this_week.start.weekday() == first_weekday
    if result.this_week.met:
        assert result.streak_weeks >= 1


def test_history_prints_the_goal_under_its_table_as_stats_does():
    from types import SimpleNamespace

    from companion.commands import goal_lines

    monday = date(2026, 11, 9)
    records = [SimpleNamespace(wall_start=at(day, 8, 0, PARIS), active_seconds=300.0,
                               zones=(SimpleNamespace(planned_seconds=480.0),))
               for day in week_of(monday, 0, 1, 2)]
    text = goal_lines(records, at(monday + timedelta(days=2), 20, 0, PARIS), GoalRules(weekly_goal=3, tz=PARIS))
    assert text == ("This week: 3 of 3 days (met) · goal met 1 week in a row (goal 3 days a week)\n"
                    "Streak: 1 week (longest 1 week)\n")


def test_gentle_start_counts_the_person_and_the_routine():
    from types import SimpleNamespace

    def record(routine: str, active: float) -> SimpleNamespace:
        return SimpleNamespace(routine_name=routine, wall_start=0.0, active_seconds=active,
                               zones=(SimpleNamespace(planned_seconds=480.0),))

    records = [record("daily", 300)] * 6 + [record("quick", 300), record("quick", 30)]
    assert goals.gentle_before(records, "daily") == 6
    assert goals.gentle_before(records, "quick") == 1          # a routine new to them: gently again
    assert goals.gentle_level(5, goals.gentle_before(records, "quick"), 5) == 3
    assert goals.gentle_before([], "daily") == 0


def test_the_summary_counts_the_session_just_ended_and_the_idle_moves_on_by_day():
    rules = GoalRules(tz=PARIS)
    monday = date(2026, 11, 9)
    added = goals.tally(on(week_of(monday, 0, 1, 2, 3), PARIS), at(monday + timedelta(days=4), 9, 0, PARIS), rules)
    before = goals.progress_of(added)
    after = goals.progress_of(added.with_session(session(monday + timedelta(days=4), PARIS)))
    assert (before.this_week.days_done, before.streak_weeks) == (4, 0)
    assert (after.this_week.met, after.streak_weeks, goals.summary_phrase(after)) == (True, 1, "Week's goal met!")
    assert goals.progress_of(added).this_week.days_done == 4            # the tally itself is unchanged
    # Saturday, no session since Thursday: 4 of 5 with Sat and Sun left; next Monday, a new week.
    saturday = goals.progress_of(added.on(at(monday + timedelta(days=5), 9, 0, PARIS)))
    assert (saturday.can_still_meet, saturday.this_week.days_done) == (True, 4)
    next_monday = goals.progress_of(added.on(at(monday + timedelta(days=7), 9, 0, PARIS)))
    assert (next_monday.this_week.days_done, next_monday.streak_weeks) == (0, 0)
