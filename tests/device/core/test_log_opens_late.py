"""The session log opens on the recorder's worker, off the start (issue 12): the device serves
the button at once, and nothing done before the log is open is lost, reordered or shown wrong.

The whole device on simulated parts (gpiozero mock pins, the real OLED driver on the decoding fake
bus, the virtual clock), with the log on a card (tests/support/card.py) that holds the open up.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from datetime import datetime
from functools import partial

import pytest

from device.core.assemble import open_recorder
from device.core.events import LogRead
from device.core.state import State
from device.log.sessionlog import SessionLog
from device.screen.screens import render
from device.screen.views import IdleView, StartingView
from device.settings.config import Config
from device.settings.routines import load_library
from device.sim.simulator import Simulator
from tests.conftest import same_pixels
from tests.support.card import Card
from tests.support.sim_app import app_on

WALL_ORIGIN = datetime(2024, 5, 15, 12, 0).timestamp()   # a Wednesday noon
GUARD_SECONDS = 10.0   # generous: only a broken recorder takes this long


def wait_for(condition, what: str) -> None:
    guard = time.monotonic() + GUARD_SECONDS
    while not condition():
        assert time.monotonic() < guard, f"gave up waiting for {what}"
        time.sleep(0.005)


def start(tmp_path, *, sessions_before=()):
    """A simulator and its app on a recorder whose log's open is held up by the card."""
    state = tmp_path / "state"
    state.mkdir()
    sim_frames: list = []
    app = None
    sim = Simulator(Config(), list(load_library(None).routines), routine_name="quick",
                    on_frame=lambda image, bus: sim_frames.append((app and app.state, image.copy())))
    wall = lambda: WALL_ORIGIN + sim.clock.now()   # noqa: E731
    with SessionLog.open(state / "sessions.db", wall_time=wall) as log:
        for at in sessions_before:
            session_id = log.begin("quick", "h", 3, [("neck", 60)], mono_start=0.0, wall_start=at)
            log.finish(session_id, "completed", [], 600.0, at + 600, mono_end=600.0)
    card = Card()
    card.stall()
    events: queue.SimpleQueue = sim.events
    made = []   # built on a thread of its own: an open on the caller's thread would stall it
    builder = threading.Thread(target=lambda: made.append(open_recorder(
        state, wall_time=wall, threaded=True, simulated=True, connect=card.connect,
        on_read=partial(events.put, LogRead()))))
    builder.start()
    builder.join(GUARD_SECONDS)
    if not made:
        card.release()
        builder.join()
        made[0].close()
        pytest.fail("open_recorder waited for the log's open")
    recorder = made[0]
    app = app_on(sim, recorder=recorder)
    assert not card.stalling.wait(0.05)   # the log opens once the loop serves, not before
    return sim, app, recorder, card, sim_frames


def test_a_press_while_the_log_opens_starts_a_session_and_a_stop_then_keeps_it(tmp_path):
    sim, app, recorder, card, frames = start(tmp_path)
    try:
        sim.schedule(sim.clock.now(), "press")   # on the loop's first pass
        app.run(sim.events, until=lambda: app.state == State.SUMMARY and not app.haptics.busy)
        assert card.stalling.wait(GUARD_SECONDS)   # the worker is inside the open
        assert recorder.reading   # the whole session ran before the log opened
        # The goal is unread: the session ran at the person's level, not a gentle start's.
        assert app.session_level == app.intensity
        # A stop now waits for the open and the session's writes, then closes the log.
        closing = threading.Thread(target=recorder.close)
        closing.start()
        card.release()
        closing.join(GUARD_SECONDS)
        assert not closing.is_alive()
    finally:
        card.release()
        sim.close()
        recorder.close()
    db = sqlite3.connect(tmp_path / "state" / "sessions.db")
    try:
        assert db.execute("SELECT routine_name, outcome, intensity FROM sessions").fetchall() == [
            ("quick", "completed", app.intensity)]
    finally:
        db.close()
    assert (tmp_path / "state" / "device-id").read_text().strip()   # written once the log was open


def test_the_idle_screen_keeps_the_splash_until_the_log_is_read(tmp_path):
    sim, app, recorder, card, frames = start(tmp_path, sessions_before=[WALL_ORIGIN - 86400])
    try:
        app.step(sim.clock.now())
        assert card.stalling.wait(GUARD_SECONDS)   # the worker is inside the open
        assert app.view(sim.clock.now()) == StartingView()   # not the figures of an empty log
        assert same_pixels(frames[-1][1], render(StartingView()))
        card.release()
        wait_for(lambda: not recorder.reading, "the log's first read")
        assert sim.events.get(timeout=GUARD_SECONDS) == LogRead()   # the worker wakes the loop
        app.step(sim.clock.now())
        shown = app.view(sim.clock.now())
        assert isinstance(shown, IdleView) and shown.last_session == "Yesterday, 10 min"
        assert same_pixels(frames[-1][1], render(shown))
    finally:
        card.release()
        sim.close()
        recorder.close()


def test_a_stop_before_the_loop_serves_opens_and_closes_the_log(tmp_path):
    sim, app, recorder, card, frames = start(tmp_path)
    try:
        closing = threading.Thread(target=recorder.close)
        closing.start()
        assert card.stalling.wait(GUARD_SECONDS)   # the close lets the open go ahead
        card.release()
        closing.join(GUARD_SECONDS)
        assert not closing.is_alive()
    finally:
        card.release()
        sim.close()
        recorder.close()
    assert (tmp_path / "state" / "device-id").read_text().strip()
