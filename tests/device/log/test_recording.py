"""The recorder keeps the session log's disk work off the pacing loop."""

import tempfile
import threading
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from device.core.state import State
from device.log.recording import SessionRecorder
from device.log.sessionlog import SessionLog
from device.settings.routines import load_library
from tests.support.card import Card
from tests.support.sim_app import app_on


def test_the_loop_never_waits_for_the_log_lock(tmp_path):
    """While the worker holds the log (a slow fsync, a repair), the loop's calls return at once."""
    card = Card()
    session_log = SessionLog.open(tmp_path / "sessions.db", connect=card.connect)
    recorder = SessionRecorder(session_log, wall_time=lambda: 1_700_000_000.0, threaded=True)
    quick = next(r for r in load_library(None).routines if r.name == "quick")
    card.stall()
    recorder.begin(quick, 3, 0.0)        # the worker writes the session's start: the card stalls it
    assert card.stalling.wait(30)
    done = threading.Event()

    def loop_calls():
        recorder.take_notices()
        recorder.overview
        recorder.overview_now()
        done.set()

    caller = threading.Thread(target=loop_calls)
    caller.start()
    finished_while_held = done.wait(5)
    card.release()
    caller.join(30)
    recorder.close()
    assert finished_while_held


def test_notices_from_the_log_reach_the_screen_once(tmp_path):
    path = tmp_path / "sessions.db"
    path.write_bytes(b"this is not a database" * 100)
    recorder = SessionRecorder(SessionLog.open(path), wall_time=lambda: 1_700_000_000.0, threaded=False)
    assert recorder.take_notices() == ["Log repaired"]
    assert recorder.take_notices() == []
    recorder.close()


def run_to(sim, app, seconds):
    """Run the device until the simulated clock reads `seconds` (a timer makes sure time gets there)."""
    sim.clock.call_at(seconds, lambda: None)
    app.run(sim.events, until=lambda: sim.clock.now() >= seconds)


def test_sessions_kept_in_memory_reach_the_card_while_the_device_sits_idle(tmp_path, caplog):
    """Issue 10: once the card could be written again, an idle device kept sessions in memory
    until the next session or a stop. Now they are written within RETRY_SECONDS."""
    from device.core.assemble import open_recorder
    from device.settings.config import Config
    from device.log.recording import RETRY_SECONDS
    from device.sim.simulator import Simulator

    sim = Simulator(Config(), list(load_library(None).routines), routine_name="quick")
    card = Card()
    recorder = open_recorder(tmp_path / "state", wall_time=time.time, threaded=False, simulated=True,
                             connect=card.connect)
    session_log = recorder.session_log
    app = app_on(sim, recorder=recorder)   # the simulator's app, with the log on this card
    try:
        card.read_only = True   # SQLite refuses every write through the card, as on a card gone bad
        session_log.close()     # reopened at the next write, through the card
        sim.schedule(1.0, "press")
        app.run(sim.events, until=lambda: app.state == State.SUMMARY)
        assert session_log.has_unsaved and stored(tmp_path) == []
        run_to(sim, app, sim.clock.now() + 600)   # ten minutes idle, the card still refusing
        assert session_log.has_unsaved and stored(tmp_path) == []
        shown = [r.getMessage() for r in caplog.records if r.name == "facepace"]
        assert shown.count("Log read-only: kept") == 1   # said once, not at every retry

        card.take_writes_again()
        back = sim.clock.now()
        run_to(sim, app, back + RETRY_SECONDS + 0.5)
        assert app.state == State.IDLE and not session_log.has_unsaved
        assert stored(tmp_path) == [("quick", "completed")]
        assert [r.getMessage() for r in caplog.records if r.name == "facepace"][-1] == "Log saved"
        # Nothing left to retry: the loop sleeps until something else is due.
        assert recorder.next_deadline() is None
    finally:
        sim.close()
        recorder.close()


def stored(tmp_path):
    import sqlite3
    db = sqlite3.connect(tmp_path / "state" / "sessions.db")
    try:
        return db.execute("SELECT routine_name, outcome FROM sessions").fetchall()
    finally:
        db.close()


def test_the_idle_overview_moves_on_with_the_date_without_a_new_session(tmp_path):
    """Found by the year drill: the idle screen kept Saturday's streak and week into Monday,
    because the overview was read from the log only when a session ended."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from device.core.pacing import Pacer

    berlin = ZoneInfo("Europe/Berlin")
    wall = [datetime(2024, 5, 3, 8, 0, tzinfo=berlin).timestamp()]      # a Friday
    session_log = SessionLog.open(tmp_path / "sessions.db", tz=berlin, wall_time=lambda: wall[0])
    recorder = SessionRecorder(session_log, wall_time=lambda: wall[0], threaded=False)
    routine = next(r for r in load_library(None).routines if r.name == "quick")
    for day in (3, 4):                                                   # Friday and Saturday
        wall[0] = datetime(2024, 5, day, 8, 0, tzinfo=berlin).timestamp()
        pacer = Pacer(tuple(routine.active_zones), 0.0)
        recorder.begin(routine, 3, 0.0)
        pacer.due(routine.total_seconds)
        recorder.finish(pacer, routine.total_seconds, "completed")
    shown = recorder.overview_now()
    assert (shown.streak_days, shown.minutes_this_week, shown.last_session_text) == (2, 6.0, "Today, 3 min")

    wall[0] = datetime(2024, 5, 5, 21, 0, tzinfo=berlin).timestamp()     # Sunday: still alive
    shown = recorder.overview_now()
    assert (shown.streak_days, shown.minutes_this_week, shown.last_session_text) == (2, 6.0, "Yesterday, 3 min")
    wall[0] = datetime(2024, 5, 6, 7, 0, tzinfo=berlin).timestamp()      # Monday: a new week, no streak
    shown = recorder.overview_now()
    assert (shown.streak_days, shown.minutes_this_week, shown.last_session_text) == (0, 0.0, "Sat, 3 min")
    assert shown == session_log.overview(wall[0])                       # what the log itself says
    recorder.close()


def test_the_weekly_goal_reads_as_far_back_as_the_streak_goes(tmp_path):
    """The log is read a few weeks back, and further only while every week read was met: a
    streak of 40 weeks is counted whole, and the sessions before a missed week are not read."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from device.log import goals
    from device.log.recording import GOAL_WEEKS_READ

    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2024, 5, 8, 12, 0, tzinfo=berlin)                     # a Wednesday
    session_log = SessionLog.open(tmp_path / "sessions.db", tz=berlin, wall_time=now.timestamp)
    monday = datetime(2024, 5, 6, 9, 0, tzinfo=berlin)
    for week in range(1, 41):                                           # 40 met weeks before this one
        start = (monday - timedelta(weeks=week)).timestamp()
        session_id = session_log.begin("quick", "h", 3, [("neck", 180)], mono_start=0.0, wall_start=start)
        session_log.finish(session_id, "completed", [], 180.0, start + 180, mono_end=180.0)
    rules = goals.GoalRules(weekly_goal=1, tz=berlin)
    recorder = SessionRecorder(session_log, wall_time=now.timestamp, threaded=False, rules=rules)
    assert recorder.goal_now().streak_weeks == 40
    assert recorder.gentle_before("quick") == 40
    assert GOAL_WEEKS_READ < 40

    recorder.set_rules(goals.GoalRules(weekly_goal=2, tz=berlin))        # no week met two days
    assert recorder.goal_now().streak_weeks == 0
    assert recorder.gentle_before("quick") == GOAL_WEEKS_READ - 1        # only the weeks read
    recorder.close()


@settings(derandomize=True, deadline=None, max_examples=25)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 23), st.floats(0, 400), st.booleans()),
                min_size=1, max_size=6))
def test_the_goal_after_a_session_is_the_goal_read_whole(sessions):
    """After a session only its week is read again (issue 12): the goal and the gentle start's
    counts are still those of a whole read, across week ends, short sessions that do not count
    and a read of the log while a session was under way (its start already on the card)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from device.core.pacing import Pacer
    from device.log import goals

    berlin = ZoneInfo("Europe/Berlin")
    rules = goals.GoalRules(weekly_goal=1, tz=berlin)
    wall = [datetime(2024, 5, 6, 9, 0, tzinfo=berlin).timestamp()]        # a Monday
    routine = next(r for r in load_library(None).routines if r.name == "quick")
    with tempfile.TemporaryDirectory() as folder:
        session_log = SessionLog.open(Path(folder) / "sessions.db", tz=berlin, wall_time=lambda: wall[0])
        for week in range(1, 12):                                        # a streak the goal reads far for
            start = wall[0] - timedelta(weeks=week).total_seconds()
            session_id = session_log.begin("quick", "h", 3, [("neck", 180)], mono_start=0.0, wall_start=start)
            session_log.finish(session_id, "completed", [], 180.0, start + 180, mono_end=180.0)
        recorder = SessionRecorder(session_log, wall_time=lambda: wall[0], threaded=False, rules=rules)
        for days_on, hour, seconds, read_midway in sessions:
            day = datetime.fromtimestamp(wall[0], berlin).date() + timedelta(days=days_on)
            wall[0] = datetime(day.year, day.month, day.day, hour, 30, tzinfo=berlin).timestamp()
            pacer = Pacer(tuple(routine.active_zones), 0.0)
            recorder.begin(routine, 3, 0.0)
            pacer.due(seconds / 2)
            recorder.checkpoint(pacer, seconds / 2)
            if read_midway:
                recorder.refresh_overview()
            pacer.due(seconds)
            wall[0] += seconds
            recorder.finish(pacer, seconds, "completed" if seconds >= routine.total_seconds else "ended_early")
            whole = SessionRecorder(session_log, wall_time=lambda: wall[0], threaded=False, rules=rules)
            assert (recorder.goal.counted, recorder.goal.totals) == (whole.goal.counted, whole.goal.totals)
            assert recorder.goal_now() == whole.goal_now()
            assert recorder.gentle_before("quick") == whole.gentle_before("quick")
        recorder.close()
        session_log.close()


def test_the_work_after_a_session_does_not_grow_with_the_log(tmp_path):
    """Issue 12's guard, without a clock: after a session the log worker reads this week again,
    not a long streak's history (which took the pacing's CPU on a Pi's budget). Its SQLite steps,
    counted through the quiet times' look every QUIET_STEPS steps, stay the same for a log three
    times as long (both past the 400 days the idle screen's overview reads); a whole read grows
    with it (checked too, as the measure's proof)."""
    import time as clock

    from device.base.quiet import QuietTimes
    from device.core.pacing import Pacer
    from tests.support.sync_testing import record_sessions

    def looks_after_a_session(sessions: int) -> tuple[int, int]:
        looks = [0]
        quiet = QuietTimes(lambda: looks.__setitem__(0, looks[0] + 1), clock.time)
        now = clock.time()
        folder = tmp_path / str(sessions)
        with SessionLog.open(folder / "sessions.db", quiet=quiet, wall_time=lambda: now,
                             boot_id_path=folder / "no-boot-id") as log:
            record_sessions(log, sessions, first_wall=now - sessions * 43_200)   # a streak to today
            recorder = SessionRecorder(log, wall_time=lambda: now, threaded=False, quiet=quiet)
            routine = next(r for r in load_library(None).routines if r.name == "quick")
            pacer = Pacer(tuple(routine.active_zones), 0.0)
            recorder.begin(routine, 3, 0.0)
            pacer.due(routine.total_seconds)
            looks[0] = 0
            recorder.finish(pacer, routine.total_seconds, "completed")
            after_a_session = looks[0]
            looks[0] = 0
            recorder.refresh_overview()   # a sync that re-dated nothing: this week only, too
            after_a_sync = looks[0]
            looks[0] = 0
            recorder.set_rules(recorder.goal.rules)   # new rules: a whole read
            whole = looks[0]
            recorder.close()
        return after_a_session + after_a_sync, whole

    short, short_whole = looks_after_a_session(1000)   # 500 days
    long, long_whole = looks_after_a_session(3000)     # 1500 days
    assert long_whole > 2 * short_whole                # a whole read grows with the log...
    assert long <= short + 10                          # ...the work after a session does not
