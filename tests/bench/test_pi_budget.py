"""The Pi-budget bench's arithmetic: which cues a routine plans, how late each was played, and
how a figure is judged with and without a quota."""

from __future__ import annotations

import pytest

from bench.pi_budget import cue_errors_ms, planned_cues, twin_row


def test_planned_cues_are_zone_starts_and_ticks_inside_each_zone():
    assert planned_cues([(4, 30), (3, 0), (2, 60)], session_start=10.0) == [
        ("zone_start", 10.0), ("tick", 12.0),            # 30/min: 2 s apart, none on the zone's end
        ("zone_start", 14.0),                            # tempo 0: no ticks
        ("zone_start", 17.0), ("tick", 18.0)]


def test_each_cue_is_matched_to_the_nearest_played_one_and_a_dropped_tick_left_out():
    trace = [{"t": 1.0, "event": "session_start"},
             {"t": 1.003, "event": "haptic", "pattern": "zone_start"},
             {"t": 2.0, "event": "haptic", "pattern": "switch_side"},   # the tick at 3.0 gave way
             {"t": 4.0105, "event": "haptic", "pattern": "zone_start"},
             {"t": 5.0, "event": "haptic", "pattern": "tick"}]
    errors = cue_errors_ms(trace, [(3, 30), (2, 60)])
    assert errors == pytest.approx([3.0, 10.5, 0.0])


def test_a_figure_is_judged_on_the_quota_and_on_the_twin_without_one():
    under = lambda ms: ms < 5
    with_quota = twin_row("pacing", 0.5, 40.0, "ms", "p99 < 5 ms", under)
    assert with_quota["value"] == "0.50 ms | 40.0 ms (x80.0)" and not with_quota["ok"]
    alone = twin_row("pacing", 0.5, None, "ms", "p99 < 5 ms", under)
    assert alone["value"] == "0.50 ms | -" and alone["ok"]
    assert not twin_row("sync", None, None, "s", "< 8 s", lambda s: s < 8)["ok"]   # nothing measured
