"""Streaks, weeks and totals: calendar days in the device's time zone."""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings, strategies as st

from device.log import history
from device.log.logdb import SessionRecord, ZoneProgress

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def at(text: str, tz=BERLIN) -> float:
    """Unix seconds for a local wall time like "2024-03-31 23:30" in `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def session(start: float, active: float = 300.0, outcome: str | None = "completed",
            zones: tuple[ZoneProgress, ...] = ()) -> SessionRecord:
    return SessionRecord(id=f"s{start}", device_id="d", routine_name="daily", routine_hash="h",
                         intensity=3, wall_start=start, wall_trusted=True, boot_id="b",
                         mono_start=0.0, active_seconds=active, outcome=outcome, zones=zones)


def newest_first(*sessions: SessionRecord) -> list[SessionRecord]:
    return sorted(sessions, key=lambda s: s.wall_start, reverse=True)


def streak(starts: list[str], now: str, tz=BERLIN, **options) -> int:
    sessions = newest_first(*(session(at(s, tz), **options) for s in starts))
    return history.overview(sessions, at(now, tz), tz).streak_days


def test_consecutive_days_make_a_streak():
    days = ["2024-05-01 08:00", "2024-05-02 21:00", "2024-05-03 07:30", "2024-05-03 20:00"]
    assert streak(days, "2024-05-03 22:00") == 3


def test_a_missed_day_starts_the_streak_again():
    days = ["2024-05-01 08:00", "2024-05-02 08:00", "2024-05-04 08:00", "2024-05-05 08:00"]
    assert streak(days, "2024-05-05 09:00") == 2


def test_the_streak_is_alive_until_the_end_of_the_next_day():
    days = ["2024-05-01 08:00", "2024-05-02 08:00"]
    assert streak(days, "2024-05-03 23:59") == 2    # yesterday counts: still time today
    assert streak(days, "2024-05-04 00:01") == 0    # a whole day missed


def test_a_day_with_only_a_short_interrupted_session_does_not_count():
    sessions = newest_first(
        session(at("2024-05-01 08:00")),
        session(at("2024-05-02 08:00"), active=59.0, outcome="interrupted"),
        session(at("2024-05-03 08:00")),
    )
    assert history.overview(sessions, at("2024-05-03 09:00"), BERLIN).streak_days == 1


def test_longer_interrupted_and_short_finished_sessions_count():
    sessions = newest_first(
        session(at("2024-05-01 08:00")),
        session(at("2024-05-02 08:00"), active=60.0, outcome="interrupted"),
        session(at("2024-05-03 08:00"), active=20.0, outcome="ended_early"),
    )
    assert history.overview(sessions, at("2024-05-03 09:00"), BERLIN).streak_days == 3


def test_a_short_interrupted_session_does_not_spoil_a_day_that_also_has_a_real_one():
    sessions = newest_first(
        session(at("2024-05-02 08:00")),
        session(at("2024-05-03 07:00"), active=10.0, outcome="interrupted"),
        session(at("2024-05-03 08:00")),
    )
    assert history.overview(sessions, at("2024-05-03 09:00"), BERLIN).streak_days == 2


def test_days_are_counted_in_the_devices_time_zone():
    # 23:30 and 01:00 UTC: two days in London's winter, one evening in Los Angeles.
    starts = [at("2024-01-10 23:30", UTC), at("2024-01-11 01:00", UTC)]
    sessions = newest_first(*(session(s) for s in starts))
    now = at("2024-01-11 12:00", UTC)
    assert history.overview(sessions, now, UTC).streak_days == 2
    assert history.overview(sessions, now, LOS_ANGELES).streak_days == 1


def test_spring_forward_day_has_23_hours_but_is_one_day():
    # Europe/Berlin skips 02:00-03:00 on 2024-03-31. These starts are 22.5 h and 23.5 h
    # apart; counting 24-hour steps would merge or split the wrong days.
    days = ["2024-03-30 23:45", "2024-03-31 00:15", "2024-03-31 23:45", "2024-04-01 23:15"]
    assert streak(days, "2024-04-01 23:30") == 3
    assert streak(["2024-03-30 00:30", "2024-04-01 00:10"], "2024-04-01 08:00") == 1


def test_fall_back_day_has_25_hours_but_is_one_day():
    # Europe/Berlin repeats 02:00-03:00 on 2024-10-27: 00:10 to 23:50 is 24 h 40 min.
    days = ["2024-10-27 00:10", "2024-10-27 23:50", "2024-10-28 00:05"]
    assert streak(days, "2024-10-28 12:00") == 2
    sessions = newest_first(*(session(at(d)) for d in days))
    assert [w.sessions for w in history.weekly(sessions, at("2024-10-28 12:00"), BERLIN)][-2:] == [2, 1]


def test_system_local_time_is_used_when_no_zone_is_given(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        for text in ("2024-03-31 00:30", "2024-03-31 23:30", "2024-10-27 02:30", "2024-10-27 23:59"):
            assert history.local_day(at(text), None) == datetime.fromisoformat(text).date()
    finally:
        monkeypatch.undo()
        time.tzset()


def test_minutes_this_week_start_on_monday_at_local_midnight():
    sessions = newest_first(
        session(at("2024-05-05 23:50"), active=600.0),   # Sunday: last week
        session(at("2024-05-06 00:10"), active=300.0),   # Monday
        session(at("2024-05-08 18:00"), active=480.0, outcome="interrupted"),
    )
    result = history.overview(sessions, at("2024-05-08 20:00"), BERLIN)
    assert result.minutes_this_week == pytest.approx(13.0)
    assert result.sessions_this_week == 2
    assert result.last_session_wall == at("2024-05-08 18:00")
    assert result.last_session_minutes == pytest.approx(8.0)
    assert result.last_session_text == "Today, 8 min"


def test_an_empty_log_gives_an_empty_overview():
    result = history.overview([], at("2024-05-08 20:00"), BERLIN)
    assert (result.streak_days, result.minutes_this_week, result.last_session_text) == (0, 0.0, None)


def test_a_session_dated_after_now_counts_as_today():
    # The wall clock was set back after the session (an NTP correction on a Pi without RTC).
    sessions = [session(at("2024-05-09 08:00"))]
    assert history.overview(sessions, at("2024-05-08 20:00"), BERLIN).streak_days == 1


def test_a_session_dated_after_now_is_in_this_week_for_stats_as_on_the_idle_screen():
    # Found by the year drill: after a boot with the clock days behind, the idle screen counted
    # the sessions "in the future" in this week and `facepace stats` in no week at all.
    sessions = [session(at("2024-05-20 08:00"))]
    now = at("2024-05-08 20:00")
    assert history.overview(sessions, now, BERLIN).minutes_this_week == 5.0
    assert history.weekly(sessions, now, BERLIN)[-1].minutes == 5.0


@pytest.mark.parametrize("start, expected", [
    ("2024-05-08 07:00", "Today, 5 min"),
    ("2024-05-07 23:59", "Yesterday, 5 min"),
    ("2024-05-04 10:00", "Sat, 5 min"),
    ("2024-04-28 10:00", "28 Apr, 5 min"),
])
def test_last_session_is_described_for_the_idle_screen(start, expected):
    assert history.describe_last(session(at(start)), at("2024-05-08 20:00"), BERLIN) == expected


def test_last_session_under_a_minute_is_given_in_seconds():
    assert history.describe_last(session(at("2024-05-08 07:00"), active=42.9),
                                 at("2024-05-08 20:00"), BERLIN) == "Today, 42 s"
    # An older log's clock-arithmetic dust is the whole second it stands for.
    assert history.describe_last(session(at("2024-05-08 07:00"), active=29.999999999999996),
                                 at("2024-05-08 20:00"), BERLIN) == "Today, 30 s"


def test_weekly_totals_cover_eight_weeks_oldest_first_including_empty_ones():
    sessions = [session(at("2024-05-08 08:00"), active=600.0),
                session(at("2024-05-06 08:00"), active=300.0),
                session(at("2024-03-20 08:00"), active=900.0),   # 8th week back
                session(at("2024-03-10 08:00"), active=900.0)]   # too old
    weeks = history.weekly(sessions, at("2024-05-08 20:00"), BERLIN)
    assert [w.week_start for w in weeks][0] == date(2024, 3, 18)
    assert [w.week_start for w in weeks][-1] == date(2024, 5, 6)
    assert all(w.week_start.weekday() == 0 for w in weeks) and len(weeks) == 8
    assert [(w.sessions, w.minutes) for w in weeks] == [(1, 15.0)] + [(0, 0.0)] * 6 + [(2, 15.0)]


def test_zone_minutes_add_up_what_was_done():
    sessions = [
        session(0.0, zones=(ZoneProgress("neck", 60, 60), ZoneProgress("jaw", 60, 30, True))),
        session(1.0, zones=(ZoneProgress("neck", 60, 120),)),
    ]
    assert history.zone_minutes(sessions) == [("neck", 3.0), ("jaw", 0.5)]


def test_zones_never_worked_on_are_not_in_the_minutes_per_zone():
    sessions = [session(0.0, zones=(ZoneProgress("oil", 20, 20), ZoneProgress("neck", 60, 0.0, True),
                                    ZoneProgress("jaw", 60, 0.0)))]
    assert history.zone_minutes(sessions) == [("oil", pytest.approx(20 / 60))]


@pytest.mark.parametrize("zone, done", [
    (ZoneProgress("neck", 60.0, 60.0), True),                    # ran to its end
    (ZoneProgress("neck", 60.0, 59.99999999999), True),          # deadline arithmetic rounding
    (ZoneProgress("neck", 60.0, 59.5), False),                   # session ended mid-zone
    (ZoneProgress("neck", 60.0, 0.0), False),                    # not reached
    (ZoneProgress("neck", 60.0, 12.0, True), False),             # skipped after 12 s
    (ZoneProgress("neck", 60.0, 60.0, True), False),             # skipped is never done
])
def test_a_zone_is_done_when_it_ran_to_its_end_without_a_skip(zone, done):
    assert history.zone_is_done(zone) is done


def test_partly_done_zones_are_neither_done_nor_skipped():
    zones = [ZoneProgress("oil", 20, 20), ZoneProgress("neck", 60, 60), ZoneProgress("jaw", 75, 4, True),
             ZoneProgress("cheeks", 90, 90), ZoneProgress("eyes", 45, 30), ZoneProgress("brows", 60, 0)]
    assert history.zones_done_and_skipped(zones) == (3, 1)


def test_longest_streak_finds_the_best_run():
    days = ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-05", "2024-05-06"]
    sessions = [session(at(f"{d} 08:00")) for d in days]
    assert history.longest_streak(sessions, BERLIN) == 3


# --- the overview the idle screen shows, moved on without reading the log again ---------------

@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 25), st.integers(0, 23), st.sampled_from(
    ["completed", "ended_early", "interrupted"]), st.sampled_from([30.0, 61.0, 300.0])), max_size=12),
       st.integers(0, 23), st.integers(0, 500))
def test_an_overview_moved_on_to_a_later_day_is_the_overview_of_that_day(sessions, hour, hours_later):
    """The idle screen moves the log's overview on to a new day without reading the log
    (`overview_on`): it must give what `overview` gives on that day (in a zone with DST), or
    None when it cannot know: sessions dated after the day it was read (clock set back)."""
    records = newest_first(*(session(at("2024-03-10 00:00") + day * 86400 + h * 3600, active=active,
                                     outcome=outcome)
                             for day, h, outcome, active in sessions))
    then = at(f"2024-03-31 {hour:02d}:30")             # the night the clocks go forward
    later = then + hours_later * 3600
    before = history.overview(records, then, BERLIN)
    moved = history.overview_on(before, later, BERLIN)
    if moved is None:
        assert history.local_day(records[0].wall_start, BERLIN) > before.as_of
    else:
        assert moved == history.overview(records, later, BERLIN)


@given(st.lists(st.tuples(st.integers(0, 25), st.integers(0, 23), st.sampled_from(
    ["completed", "ended_early", "interrupted"]), st.sampled_from([30.0, 61.0, 300.0])), max_size=12),
       st.integers(0, 26), st.integers(0, 23))
@example([(3, 9, "completed", 300.0), (4, 22, "completed", 300.0)], 5, 12)   # a streak up to yesterday
@settings(derandomize=True, deadline=None, max_examples=200)
def test_the_streak_from_the_days_alone_is_the_overviews(sessions, today, hour):
    """`facepace report` keeps the days with a session that counts, not the sessions
    (`current_streak`): it must give `overview`'s streak, sessions after today included
    (the clock was set back), across Berlin's change to summer time."""
    records = [session(at(f"2024-03-20 {h:02}:30") + day * 86400, active, outcome)
               for day, h, outcome, active in sessions]
    now = at(f"2024-03-20 {hour:02}:00") + today * 86400
    days = {history.local_day(r.wall_start, BERLIN) for r in records if history.counts_toward_streak(r)}
    assert history.current_streak(days, history.local_day(now, BERLIN)) == \
        history.overview(newest_first(*records), now, BERLIN).streak_days
