"""Press, double press and hold from timestamped edges, on deadlines."""

import pytest

from device.core.gestures import GestureRecognizer


def feed(rec, edges, until):
    """edges: list of (time, pressed). Returns (time, gesture) in the order recognised."""
    found, pending = [], sorted(edges)
    now = 0.0
    while True:
        deadline = rec.next_deadline()
        next_edge = pending[0][0] if pending else None
        candidates = [t for t in (deadline, next_edge) if t is not None and t <= until]
        if not candidates:
            return found
        now = min(candidates)
        found += rec.due(now)
        while pending and pending[0][0] <= now:
            at, pressed = pending.pop(0)
            g = rec.edge(pressed, at)
            if g:
                found.append((at, g))


def test_single_press_waits_for_double_window():
    rec = GestureRecognizer(hold_seconds=1.5, double_window=0.35)
    assert feed(rec, [(1.0, True), (1.1, False)], 10) == [(pytest.approx(1.45), "press")]


def test_double_press_recognised_on_second_press():
    rec = GestureRecognizer(double_window=0.35)
    got = feed(rec, [(1.0, True), (1.1, False), (1.3, True), (1.4, False)], 10)
    assert got == [(1.3, "double")]


def test_slow_second_press_is_two_presses():
    rec = GestureRecognizer(double_window=0.35)
    got = feed(rec, [(1.0, True), (1.1, False), (1.6, True), (1.7, False)], 10)
    assert got == [(pytest.approx(1.45), "press"), (pytest.approx(2.05), "press")]


def test_hold_fires_while_still_down_and_release_is_silent():
    rec = GestureRecognizer(hold_seconds=1.5)
    assert feed(rec, [(2.0, True), (5.0, False)], 10) == [(3.5, "hold")]


def test_long_hold_after_hold():
    rec = GestureRecognizer(hold_seconds=1.5, long_hold_seconds=10.0)
    assert feed(rec, [(0.0, True), (11.0, False)], 20) == [(1.5, "hold"), (10.0, "long_hold")]


def test_press_without_double_is_immediate():
    rec = GestureRecognizer()
    rec.double_enabled = False
    assert feed(rec, [(1.0, True), (1.1, False)], 10) == [(1.1, "press")]


def test_ignored_press_gives_nothing():
    rec = GestureRecognizer()
    assert rec.edge(True, 0.0, ignore=True) is None
    assert rec.edge(False, 2.0) is None
    assert rec.next_deadline() is None and rec.due(5.0) == []


def test_lost_release_edge_does_not_wedge():
    rec = GestureRecognizer(hold_seconds=1.5)
    rec.edge(True, 0.0)
    got = feed(rec, [(0.5, True), (0.6, False)], 10)   # a second press with no release between
    assert got == [(pytest.approx(0.95), "press")]


def test_a_late_look_still_gives_each_gesture_its_own_instant():
    """The loop woke long after the deadlines: the gestures keep the instants they happened at."""
    rec = GestureRecognizer(hold_seconds=1.5, double_window=0.35, long_hold_seconds=10.0)
    rec.edge(True, 1.0)
    rec.edge(False, 1.12)
    assert rec.due(50.0) == [(pytest.approx(1.47), "press")]
    rec.edge(True, 60.0)
    assert rec.due(90.0) == [(61.5, "hold"), (70.0, "long_hold")]
