"""A simulated month with the device (issue 10): the short form of `python -m bench.year_drill`.

One seeded month is lived once for this module (about 40 sessions, with syncs, a cut, a
kill, a restart, a boot with a wrong clock, a full card, a failing panel; see
tests/support/year_life.py); each test then asks about one part of it. A failure names
`seed=N day=D step=S`: `python -m bench.year_drill --seed N --days 30` replays it.

Three of its invariants failed on the code it was written against, each a bug fixed under
issue 10 (a bus RuntimeError crashing the loop, no idle retry for sessions kept in memory, the
display's error pattern drowning cues): they are checked like every other.
"""

from __future__ import annotations

import logging

import pytest

from tests.support import year_life
from tests.support.year_life import Life

SEED = 8           # a month with every kind of event (checked below) and each known fault
DAYS = 30

@pytest.fixture(scope="module")
def month(tmp_path_factory):
    for name in ("facepace", "device"):   # expected warnings, by the dozen
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        report = Life(SEED, DAYS, tmp_path_factory.mktemp("month")).run()
    finally:
        for name in ("facepace", "device"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    print(report.summary())
    return report


def failures(report, invariant: str) -> str:
    return "\n".join(str(failure) for failure in report.failed(invariant))


def test_the_month_holds_every_kind_of_event(month):
    assert month.sessions >= 30
    assert month.syncs >= 3 and month.syncs_cut >= 1 and month.date_fix_checks >= 1
    assert month.kills >= 1 and month.restarts >= 1 and month.panel_outages >= 1
    assert month.steps_on_a_full_card >= 1
    assert month.checks >= 1000


KEPT = [year_life.MOTOR_OFF, year_life.LOGGED_ONCE, year_life.HOST_EQUALS_DEVICE, year_life.DATES_FIXED,
        year_life.IDLE_EQUALS_STATS, year_life.CUES_FELT, year_life.LOG_SIZE_BOUNDED,
        year_life.MEMORY_BOUNDED, year_life.LOOP_ALIVE, year_life.WRITTEN_WHEN_ROOM,
        year_life.ERROR_OVER_CUES]


@pytest.mark.parametrize("invariant", KEPT)
def test_a_month_of_use_keeps_the_invariant(month, invariant):
    assert not month.failed(invariant), failures(month, invariant)


def test_every_failure_says_how_to_replay_it(month):
    """Whatever failed names its seed, day and step."""
    for failure in month.failures:
        assert str(failure).startswith(f"seed={SEED} day={failure.day} step={failure.step}: ")
    assert set(month.failure_counts) <= set(KEPT)
