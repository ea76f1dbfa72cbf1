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

from device.log import history
from device.log.logdb import ZoneProgress
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


class LogThatForgot:
    """The running log as a bug would leave it: the finish the full card refused is no longer kept."""

    has_unsaved = False

    def sessions(self) -> list:
        return []


def test_the_log_check_reads_a_finish_kept_in_memory_over_the_files_copy(tmp_path):
    """A full card took a session's start, then refused its zones and finish: the log keeps them
    in memory and the check must read them there, not the file's copy still under way (a year
    with seed 456697 failed 33 times on day 121 so). A finish lost from memory is still caught."""
    life = Life(SEED, DAYS, tmp_path)
    life.boot = boot = year_life.Boot(life)
    try:
        log = boot.log
        zones = [("neck", 60.0), ("jaw", 60.0), ("cheeks", 60.0)]
        progress = [ZoneProgress("neck", 60.0, 60.0, False), ZoneProgress("jaw", 60.0, 2.0, True),
                    ZoneProgress("cheeks", 60.0, 30.0, False)]
        done, skipped = history.zones_done_and_skipped(progress)
        # A finish that only changes rows in place fits in the pages the file has; the card's
        # pages fill up within a few dozen sessions, and then one's finish is refused.
        for number in range(1, 200):
            mono_start = 200.0 * number
            session_id = log.begin("evening", "hash", 3, zones, mono_start=mono_start,
                                   wall_start=boot.world_at_zero + mono_start)
            life.expected.append(year_life.Expected(log.boot_id, mono_start, boot.world_at_zero + mono_start,
                                                    "evening", len(zones), "ended_early", done, skipped, 92.0))
            life.card.set_full(True)
            log.finish(session_id, "ended_early", progress, 92.0, boot.world_at_zero + mono_start + 95,
                       mono_end=mono_start + 95)
            if log.has_unsaved:
                break
            life.card.set_full(False)
        assert log.has_unsaved, "the full card took every finish: nothing to check"
        life.check_log()
        assert not life.report.failed(year_life.LOGGED_ONCE), failures(life.report, year_life.LOGGED_ONCE)

        boot.log = LogThatForgot()   # planted: the log forgets a finish it could not write
        life.check_log()
        assert "outcome None, shown ended_early" in failures(life.report, year_life.LOGGED_ONCE)
    finally:
        boot.kill()
        life.link.close()
