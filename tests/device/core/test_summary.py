"""The summary screen and the log agree on what was done, and the summary is drawn once, complete.

The whole device on simulated parts (gpiozero mock pins, the real OLED driver on the decoding
fake bus, the virtual clock); assertions are on the panel's pixels and on the log.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from device.core.state import State
from device.settings.config import Config
from device.log.recording import SessionRecorder
from device.settings.routines import load_library
from device.screen.screens import render
from device.log.sessionlog import SessionLog
from device.sim.simulator import Simulator
from device.screen.views import SummaryView
from tests.conftest import same_pixels
from tests.support.card import Card
from tests.support.sim_app import app_on

# Noon, so that a day earlier is yesterday whatever the local time zone does overnight.
WALL_ORIGIN = datetime(2024, 5, 15, 12, 0).timestamp()
WORKER_GUARD_SECONDS = 30.0   # generous: only a broken recorder takes this long


def wait_for(condition, what: str) -> None:
    guard = time.monotonic() + WORKER_GUARD_SECONDS
    while not condition():
        assert time.monotonic() < guard, f"gave up waiting for {what}"
        time.sleep(0.005)


@pytest.fixture
def make_sim(tmp_path):
    """A simulator whose session log is written on the recorder's worker thread, as on the device
    (the simulator under virtual time otherwise writes inline), dated from WALL_ORIGIN."""
    made = []

    def make(*, sessions_before: list[float] = ()):
        frames: list = []
        app = None   # the splash is sent while the simulator is built, before this test's app
        sim = Simulator(Config(), list(load_library(None).routines), routine_name="quick",
                        on_frame=lambda image, bus: frames.append((app and app.state, image.copy())))
        wall = lambda: WALL_ORIGIN + sim.clock.now()   # noqa: E731
        card = Card()
        log = SessionLog.open(tmp_path / "sessions.db", wall_time=wall, connect=card.connect)
        for start in sessions_before:
            session_id = log.begin("quick", "h", 3, [("neck", 60)], mono_start=0.0, wall_start=start)
            log.finish(session_id, "completed", [], 60.0, start + 60, mono_end=60.0)
        recorder = SessionRecorder(log, wall_time=wall, threaded=True)
        app = app_on(sim, recorder=recorder)   # the simulator's app, with this log
        made.append((sim, recorder, card))
        wait_for(lambda: recorder.overview is not None, "the log's first overview")
        return sim, app, card, frames

    yield make
    for sim, recorder, card in made:
        card.release()
        sim.close()
        recorder.close()


def summary_frames(frames) -> list:
    return [image for state, image in frames if state == "summary"]


@pytest.mark.parametrize(("days_before", "streak"), [   # WALL_ORIGIN is a Wednesday
    ([], "Week: 1 of 5 days"),
    ([WALL_ORIGIN - 86400], "Week: 2 of 5 days"),
    ([WALL_ORIGIN - 86400, WALL_ORIGIN - 2 * 86400 - 3600], "Week: 3 of 5 days"),
    ([WALL_ORIGIN - 3 * 86400], "Week: 1 of 5 days"),   # Sunday: last week's
])
def test_the_first_summary_frame_already_has_its_streak(make_sim, days_before, streak):
    """The log is written on a worker; while it is busy (an SD card's fsync), the summary
    must not be drawn without the streak and then again with it a moment later."""
    sim, app, card, frames = make_sim(sessions_before=days_before)
    card.stall()   # the worker is busy writing: the log's overview cannot come back yet
    sim.schedule(1.0, "press")
    app.run(sim.events, until=lambda: app.state == State.SUMMARY and not app.haptics.busy)
    first = summary_frames(frames)[0]
    assert card.stalling.is_set()
    card.release()
    summary = app.summary
    expected = SummaryView(summary.routine_title, active_seconds=180.0, zones_done=6, zones_skipped=0,
                           completed=True, streak=streak)
    assert same_pixels(first, render(expected))
    # Once the worker has written the session, the summary stays as it was drawn.
    wait_for(lambda: app.recorder.overview.last_session_minutes == 3.0,   # the 180 s session
             "the log's overview with the session")
    sim.clock.call_at(sim.clock.now() + 5, lambda: None)
    target = sim.clock.now() + 5
    app.run(sim.events, until=lambda: sim.clock.now() >= target)
    assert app.view(sim.clock.now()) == expected
    assert all(same_pixels(frame, first) for frame in summary_frames(frames))


def test_a_summary_without_a_log_has_no_streak_line():
    sim = Simulator(Config(), list(load_library(None).routines), routine_name="quick")
    try:
        sim.run_headless([(1.0, "press")])
        assert sim.app.summary.streak is None
    finally:
        sim.close()


def test_a_zone_run_to_its_end_is_its_planned_seconds_on_the_summary_and_in_every_log_form(tmp_path):
    """Pressed at 1.3 s, the quick routine's fifth zone ran from 131.77 to 161.77 on the clock:
    29.999999999999986 s in floats, which the log's CSV gave as is."""
    from io import StringIO

    from device.cli import log as cli_log
    from device.log import session_columns

    state = tmp_path / "state"
    sim = Simulator(Config(), list(load_library(None).routines), routine_name="quick", state_dir=state)
    try:
        sim.run_headless([(1.3, "press")])
        summary = sim.app.summary
    finally:
        sim.close()
    assert (summary.active_seconds, summary.zones_done) == (180.0, 6)
    db = state / "sessions.db"
    [row] = cli_log.load(db_path=db)
    session, _ = row
    assert [zone.done_seconds for zone in session.zones] == [zone.planned_seconds for zone in session.zones]
    assert "3:00" in cli_log.format_table([session]) and " 6/6 " in cli_log.format_table([session])
    [as_json] = cli_log.load(db_path=db, as_json=True)
    assert '"done_seconds":30.0' in as_json and "29.99" not in as_json
    csv = StringIO()
    session_columns.write_csv([row], csv)
    header, *lines = csv.getvalue().splitlines()
    done_at = header.split(",").index("zone_done_seconds")
    done_column = [line.split(",")[done_at] for line in lines]
    assert done_column == ["20.0", "40.0", "40.0", "20.0", "30.0", "30.0"]


def test_a_sync_reads_the_log_again_once_when_it_ends_not_per_batch(tmp_path):
    """The sync's progress arrives batch by batch; re-reading the whole log for the idle screen
    each time cost the loop's log worker more than the batch itself (0.4 s of a Pi's CPU per read
    at 10,000 sessions). The log is read again once, when the sync is done (its clock may have
    re-dated sessions)."""
    from device.core.events import SyncProgress
    from device.log import logdb

    statements: list[str] = []

    def counting_connect(path):
        connection = logdb.connect(path)
        connection.set_trace_callback(statements.append)
        return connection

    sim = Simulator(Config(), list(load_library(None).routines), routine_name="quick")
    wall = lambda: WALL_ORIGIN + sim.clock.now()   # noqa: E731
    log = SessionLog.open(tmp_path / "sessions.db", wall_time=wall, connect=counting_connect)
    recorder = SessionRecorder(log, wall_time=wall, threaded=False)
    try:
        app = app_on(sim, recorder=recorder)
        reads = lambda: sum("FROM sessions" in s and s.lstrip().upper().startswith("SELECT")   # noqa: E731
                            for s in statements)
        before = reads()
        for sent in range(0, 1000, 100):
            app.handle(SyncProgress(sent, 1000))
        assert reads() == before
        app.handle(SyncProgress(1000, 1000, done=True))
        assert reads() > before
    finally:
        recorder.close()
        sim.close()
