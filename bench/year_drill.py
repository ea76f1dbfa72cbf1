"""A simulated year with the device (issue 10), long form; the rules are in tests/support/year_life.py,
and `make test` lives a month of it (tests/device/sim/test_year_drill.py).

    python -m bench.year_drill [--seed N] [--days D]

About 500 sessions over 365 days and nights on the virtual clock, with syncs (some cut), a
failing panel, a full card for a week, SIGKILLs, restarts and a boot with a wrong clock,
checking every invariant after every step. A failure prints `seed=N day=D step=S`: run again
with `--seed N` (or FACEPACE_YEAR_SEED=N for `make bench`) and the same `--days` to replay
it: the plan (the full-card week, the kill days) is spread over the life's length, so
`--days 125` is another life, not the first 125 days of the year.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
from pathlib import Path

from tests.support.year_life import Life

DAYS = 365


def live(seed: int | None = None, days: int = DAYS):
    if seed is None:
        seed = int(os.environ.get("FACEPACE_YEAR_SEED") or random.SystemRandom().randrange(10**6))
    print(f"  year drill: seed={seed}, {days} days", file=sys.stderr, flush=True)
    # The device's own warnings ("display not answering", "Disk full") are expected here, by the hundred.
    for name in ("facepace", "device"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="facepace-year-") as folder:
        return Life(seed, days, Path(folder)).run()


def run(seed: int | None = None, days: int = DAYS) -> list[dict]:
    report = live(seed, days)
    print(report.summary(), file=sys.stderr)
    failures = sum(report.failure_counts.values())
    growth = report.rss_mib[-1] - report.rss_mib[1] if len(report.rss_mib) > 2 else 0.0
    title = f"year drill (seed {report.seed}, {report.seconds:.0f} s)"
    return [
        {"name": f"{title}: sessions lived", "value": report.sessions, "target": ">= 400",
         "ok": report.sessions >= 400 or days < DAYS},
        {"name": f"{title}: invariant checks", "value": report.checks, "target": "counted", "ok": True},
        {"name": f"{title}: syncs (cut) / kills / restarts",
         "value": f"{report.syncs} ({report.syncs_cut}) / {report.kills} / {report.restarts}",
         "target": "counted", "ok": True},
        {"name": f"{title}: RSS growth after month 2 (MiB)", "value": round(growth, 1), "target": "<= 40",
         "ok": growth <= 40},
        {"name": f"{title}: log size (KiB)", "value": round(report.log_bytes / 1024),
         "target": "bounded", "ok": not report.failed("the log's size stays bounded")},
        {"name": f"{title}: invariant failures", "value": failures, "target": "0", "ok": not failures},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.year_drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, help="replay this seed (default: a new one, printed)")
    parser.add_argument("--days", type=int, default=DAYS, help=f"how long a life (default {DAYS})")
    args = parser.parse_args(argv)
    rows = run(args.seed, args.days)
    for row in rows:
        print(f"{row['name']:<70} {row['value']!s:<14} {row['target']:<8} {'ok' if row['ok'] else 'MISSED'}")
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
