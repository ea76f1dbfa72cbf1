"""The clocks' timers run in time order, however close together."""

import threading

from device.clock import ScaledClock, VirtualClock


def test_scaled_clock_runs_close_timers_in_order():
    clock = ScaledClock(1000.0)
    seen, done = [], threading.Event()
    start = clock.now() + 50.0
    for n in range(200):                       # 200 callbacks 1 simulated ms (1 us real) apart
        clock.call_at(start + n * 0.001, lambda n=n: seen.append(n))
    clock.call_at(start + 1.0, done.set)
    assert done.wait(30)
    clock.close()
    assert seen == list(range(200))


def test_virtual_clock_runs_timers_in_order_and_moves_time():
    clock = VirtualClock()
    seen = []
    clock.call_at(2.0, lambda: seen.append((2, clock.now())))
    clock.call_at(1.0, lambda: seen.append((1, clock.now())))
    clock.advance_to(5.0)
    assert seen == [(1, 1.0), (2, 2.0)] and clock.now() == 5.0


def test_closed_clock_runs_nothing_more():
    clock = ScaledClock(1.0)
    ran = []
    clock.call_at(clock.now() + 3600, lambda: ran.append(1))
    clock.close()
    assert ran == []
