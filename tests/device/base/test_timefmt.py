"""Durations as a person reads them: one m:ss for the screens, the log and the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.base import timefmt

DEVICE = Path(__file__).parents[3] / "device"


@pytest.mark.parametrize(("seconds", "shown"), [
    (600, "10:00"), (61, "1:01"), (60.0, "1:00"), (59.999, "1:00"), (2.1, "0:03"), (2.0, "0:02"),
    (0.01, "0:01"), (0.0, "0:00"), (-0.5, "0:00"),
])
def test_countdown_rounds_up_so_zero_shows_only_at_the_end(seconds, shown):
    assert timefmt.countdown(seconds) == shown


@pytest.mark.parametrize(("seconds", "shown"), [
    (188.27, "3:08"), (60.0, "1:00"), (59.999, "0:59"), (0.99, "0:00"), (0.0, "0:00"), (-0.5, "0:00"),
    (20.0, "0:20"), (7505.2, "125:05"),
])
def test_time_spent_rounds_down_so_it_counts_whole_seconds_done(seconds, shown):
    assert timefmt.duration(seconds) == shown


def test_clock_arithmetic_dust_in_older_logs_reads_as_the_whole_second():
    """Logs written before the pacer kept milliseconds hold 29.999999999999996 for a 30 s zone."""
    assert timefmt.duration(29.999999999999996) == "0:30"
    assert timefmt.countdown(30.000000000000004) == "0:30"
    assert timefmt.total(3599.9999999999995) == "1:00 h"


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "0:00"), (20.0, "0:20"), (59.6, "0:59"), (75.0, "1:15"), (3599.0, "59:59"),
    (3600.0, "1:00 h"), (7505.2, "2:05 h"), (60 * 3600 + 12 * 60 + 18, "60:12 h"),
])
def test_totals_read_as_minutes_and_seconds_then_hours_and_minutes(seconds, shown):
    assert timefmt.total(seconds) == shown


def test_exact_keeps_whole_milliseconds():
    assert timefmt.exact(61.3 - 31.3) == 30.0
    assert timefmt.exact(0.1 + 0.2) == 0.3
    assert timefmt.exact(12.0456789) == 12.046


def test_m_ss_is_written_once_in_the_whole_project():
    """Five hand-written copies drifted apart (one rounded up, two down, two to the nearest)."""
    copies = [f"{path.relative_to(DEVICE)}:{number}"
              for path in sorted(DEVICE.rglob("*.py")) if path.name != "timefmt.py"
              for number, line in enumerate(path.read_text().splitlines(), 1) if ":02d}" in line]
    assert copies == []
