"""Background work steps aside around the loop's next wake-up (issue 12), on an injected clock."""

from __future__ import annotations

import queue
import threading

import pytest
from PIL import Image

from device.base.quiet import NEVER, QUIET_AFTER, QUIET_BEFORE, QuietTimes
from device.core.clock import MonotonicClock, ScaledClock, VirtualClock


class Moments:
    """The loop's next wake-up and the time, set by the test; sleeping moves the time."""

    def __init__(self, now: float = 100.0, wake: float | None = None) -> None:
        self.now, self.wake = now, wake
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def quiet(self) -> QuietTimes:
        return QuietTimes(lambda: self.wake, lambda: self.now, self.sleep)


@pytest.mark.parametrize("before", [QUIET_BEFORE, QUIET_BEFORE / 2, 0.0001])
def test_work_near_the_loop_s_wake_up_waits_until_just_after_it(before):
    moments = Moments(wake=100.0 + before)
    moments.quiet().step_aside()
    assert moments.slept == [pytest.approx(before + QUIET_AFTER)]
    assert moments.now == pytest.approx(100.0 + before + QUIET_AFTER)


@pytest.mark.parametrize("wake", [None, 100.0 + QUIET_BEFORE + 0.001, 100.0 - QUIET_AFTER, 50.0])
def test_work_far_from_a_wake_up_or_after_it_goes_on(wake):
    moments = Moments(wake=wake)
    moments.quiet().step_aside()
    assert moments.slept == []


def test_just_after_the_wake_up_the_loop_still_has_the_cpu():
    moments = Moments(wake=100.0 - QUIET_AFTER / 2)
    moments.quiet().step_aside()
    assert moments.slept == [pytest.approx(QUIET_AFTER / 2)]


def test_a_virtual_clock_has_no_quiet_times_and_real_clocks_do():
    assert QuietTimes.of(VirtualClock()) is NEVER
    NEVER.step_aside()   # nothing to wait for
    clock = MonotonicClock()
    quiet = QuietTimes.of(clock)
    assert quiet is not NEVER
    # The clock says when the loop waits until: a wait publishes its deadline.
    events = queue.SimpleQueue()
    events.put("an event")
    assert clock.wait(events, clock.now() + 60) == "an event"
    assert clock.next_wake is not None and clock.next_wake > clock.now() + 50
    assert ScaledClock(4.0).next_wake is None


def test_the_log_s_queries_step_aside_while_the_loop_is_about_to_wake(tmp_path):
    """SQLite calls the quiet times from inside a query; a read of a 300-session log looks many
    times, and when the loop wakes soon, it waits."""
    from datetime import date

    from device.log.sessionlog import SessionLog
    from tests.support.sync_testing import record_sessions

    looks = []
    moments = Moments(wake=100.0 + QUIET_BEFORE / 2)
    quiet = QuietTimes(lambda: looks.append(1) or moments.wake, lambda: moments.now, moments.sleep)
    with SessionLog.open(tmp_path / "sessions.db", quiet=quiet) as log:
        record_sessions(log, 300)
        looks.clear()
        moments.slept.clear()
        moments.now = 100.0   # the loop wakes in QUIET_BEFORE / 2 again
        days = log.goal_days(date(2000, 1, 1), None)
    assert sum(day.sessions for day in days) == 300 and len(looks) >= 3   # every QUIET_STEPS steps
    assert moments.slept   # the first look was in the quiet time


def test_the_display_worker_steps_aside_before_a_render_and_before_a_push():
    from device.screen.display import DisplayWorker, Drawing, FrameToDraw

    order = []
    done = threading.Event()

    class Display:
        def push(self, frame):
            order.append("push")
            done.set()

        def next_deadline(self):
            return None

        def retry(self):
            pass

        def close(self):
            pass

    def render(view, error=None):
        order.append("render")
        return Image.new("1", (128, 64))

    quiet = QuietTimes(lambda: 1.0, lambda: 1.0, lambda seconds: order.append("aside"))
    with DisplayWorker(Display(), MonotonicClock(), render=render, quiet=quiet) as worker:
        worker.push(FrameToDraw(Drawing("a view")))
        assert done.wait(30)
    assert order == ["aside", "render", "aside", "push"]

