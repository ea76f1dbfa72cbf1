"""The recorder keeps the session log's disk work off the pacing loop."""

import threading

from device.log.recording import SessionRecorder
from device.log.sessionlog import SessionLog


def test_the_loop_never_waits_for_the_log_lock(tmp_path):
    """While the worker holds the log (a slow fsync, a repair), the loop's calls return at once."""
    session_log = SessionLog.open(tmp_path / "sessions.db")
    recorder = SessionRecorder(session_log, wall_time=lambda: 1_700_000_000.0, threaded=True)
    holding, release = threading.Event(), threading.Event()

    def slow_disk():
        with session_log._lock:          # exactly what a long write does
            holding.set()
            release.wait(30)

    recorder._submit(slow_disk)
    assert holding.wait(30)
    done = threading.Event()

    def loop_calls():
        recorder.take_notices()
        recorder.overview
        done.set()

    caller = threading.Thread(target=loop_calls)
    caller.start()
    finished_while_held = done.wait(5)
    release.set()
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


def run_to(sim, seconds):
    """Run the device until the simulated clock reads `seconds` (a timer makes sure time gets there)."""
    sim.clock.call_at(seconds, lambda: None)
    sim.app.run(sim.events, until=lambda: sim.clock.now() >= seconds)


def test_sessions_kept_in_memory_reach_the_card_while_the_device_sits_idle(tmp_path, caplog):
    """Issue 10: once the card could be written again, an idle device kept sessions in memory
    until the next session or a stop. Now they are written within RETRY_SECONDS."""
    from device.log import logdb
    from device.settings.config import Config
    from device.log.recording import RETRY_SECONDS
    from device.settings.routines import load_library
    from device.sim.simulator import Simulator

    sim = Simulator(Config(), list(load_library(None).routines), routine_name="quick",
                    state_dir=tmp_path / "state")
    try:
        session_log = sim.recorder.session_log
        refusing = []

        def read_only_card(path):   # SQLite refuses every write through it, as on a card gone bad
            connection = logdb.connect(path)
            connection.execute("PRAGMA query_only = 1")
            refusing.append(connection)
            return connection

        session_log.close()   # reopened at the next write, through the connection above
        session_log._connect = read_only_card
        sim.schedule(1.0, "press")
        sim.app.run(sim.events, until=lambda: sim.app.summary_shown)
        assert session_log.has_unsaved and stored(tmp_path) == []
        run_to(sim, sim.clock.now() + 600)   # ten minutes idle, the card still refusing
        assert session_log.has_unsaved and stored(tmp_path) == []
        shown = [r.getMessage() for r in caplog.records if r.name == "facepace"]
        assert shown.count("Log read-only: kept") == 1   # said once, not at every retry

        for connection in refusing:
            connection.execute("PRAGMA query_only = 0")   # the card takes writes again
        back = sim.clock.now()
        run_to(sim, back + RETRY_SECONDS + 0.5)
        assert sim.app.state == "idle" and not session_log.has_unsaved
        assert stored(tmp_path) == [("quick", "completed")]
        assert [r.getMessage() for r in caplog.records if r.name == "facepace"][-1] == "Log saved"
        # Nothing left to retry: the loop sleeps until something else is due.
        assert sim.recorder.next_deadline() is None
    finally:
        sim.close()


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
    from device.settings.routines import load_library

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
