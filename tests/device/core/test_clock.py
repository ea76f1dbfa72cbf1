"""The clocks' timers run in time order, however close together; simulated time starts when
told to and never passes a timer that has not run."""

import threading

from device.core.clock import ScaledClock, VirtualClock

GUARD = 30.0   # seconds: only a hung test ever waits this long


def started(speed):
    clock = ScaledClock(speed)
    clock.start()
    return clock


def test_scaled_clock_runs_close_timers_in_order():
    clock = started(1000.0)
    seen, done = [], threading.Event()
    start = clock.now() + 50.0
    for n in range(200):                       # 200 callbacks 1 simulated ms (1 us real) apart
        clock.call_at(start + n * 0.001, lambda n=n: seen.append(n))
    clock.call_at(start + 1.0, done.set)
    assert done.wait(GUARD)
    clock.close()
    assert seen == list(range(200))


def test_scaled_clock_stands_at_zero_until_started():
    clock = ScaledClock(1000.0)
    ran = threading.Event()
    clock.call_at(0.001, ran.set)              # a microsecond of real time once started
    assert clock.now() == 0.0 and not ran.is_set()
    clock.start()
    assert ran.wait(GUARD)
    clock.close()


def test_a_late_timer_holds_simulated_time_at_its_instant():
    """The timer thread busy in one callback: time stops at that callback's instant and
    at the next timer's, however far real time runs on, until they have run."""
    clock = started(1000.0)
    inside, release, done = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def busy():
        seen.append(("busy", clock.now()))
        inside.set()
        release.wait(GUARD)

    first = clock.now() + 1.0                  # 1 ms of real time from now
    clock.call_at(first, busy)
    clock.call_at(first + 0.12, lambda: (seen.append(("next", clock.now())), done.set()))
    assert inside.wait(GUARD)
    assert clock.now() == first                # real time runs on; the clock waits for the callback
    release.set()
    assert done.wait(GUARD)
    assert seen == [("busy", first), ("next", first + 0.12)]
    clock.close()


def test_a_timer_set_in_the_past_does_not_take_time_back():
    """A key press scheduled at a time read a moment ago runs at once, at the time already told."""
    clock = started(1000.0)
    told = clock.now()
    seen, done = [], threading.Event()
    clock.call_at(told - 1.0, lambda: (seen.append(clock.now()), done.set()))
    assert done.wait(GUARD)
    assert seen[0] >= told and clock.now() >= told
    clock.close()


def test_virtual_clock_runs_timers_in_order_and_moves_time():
    clock = VirtualClock()
    seen = []
    clock.call_at(2.0, lambda: seen.append((2, clock.now())))
    clock.call_at(1.0, lambda: seen.append((1, clock.now())))
    clock.advance_to(5.0)
    assert seen == [(1, 1.0), (2, 2.0)] and clock.now() == 5.0


def test_closed_clock_stops_its_timer_thread_and_runs_nothing_more():
    clock = started(1000.0)
    ran = []
    before = set(threading.enumerate())
    clock.call_at(clock.now() + 3600, lambda: ran.append(1))   # 3.6 s of real time away
    timer_threads = set(threading.enumerate()) - before
    assert timer_threads                        # the timer is waiting on a thread of its own
    clock.close()
    assert not any(thread.is_alive() for thread in timer_threads)
    clock.call_at(clock.now(), lambda: ran.append(2))           # due at once, but closed
    assert set(threading.enumerate()) - before == set()
    clock.close()                               # twice is fine
    assert ran == []
