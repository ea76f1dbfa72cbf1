"""The host commands' memory column is the command's own peak RSS, never the bench's.

Linux carries a parent's peak RSS into a forked (or vforked) child and keeps it across execve, so
a command started straight from a grown bench process reports the bench's size."""

import subprocess
import sys
import textwrap

import pytest

from bench.log_bench import REPO, command_cost


def test_a_child_that_allocates_100_mib_reports_at_least_that():
    cost = command_cost([sys.executable, "-c", "ballast = b'x' * (100 << 20)"])   # written: resident

    assert cost.peak_mib >= 100


def test_a_tiny_child_of_a_200_mib_bench_reports_its_own_size():
    grown_bench = textwrap.dedent("""
        import sys
        from bench.log_bench import command_cost
        ballast = b'x' * (200 << 20)
        print(command_cost([sys.executable, '-c', 'pass']).peak_mib)
    """)

    reported = subprocess.run([sys.executable, "-c", grown_bench], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout

    assert float(reported) < 50   # a bare interpreter is ~13 MiB; the bench's 200 MiB must not show


def test_a_failing_command_is_an_error_with_its_message():
    with pytest.raises(RuntimeError, match="no log here"):
        command_cost([sys.executable, "-c", "raise SystemExit('no log here')"])
