"""TOML fuzzer, long form (issue 10): the properties of tests/support/toml_documents.py for about a minute.

`make test` runs them with a short, fixed budget; here they run in rounds of fresh random
examples (a new seed each round) until the budget is spent, valid documents and broken bytes
alternately. Each failure is printed with its seed (`@seed(N)` on the test replays it) and
the smallest example hypothesis found.

`python -m bench.toml_fuzz [SECONDS]` runs it alone; FACEPACE_FUZZ_SECONDS sets the budget.
"""

from __future__ import annotations

import os
import random
import sys
import time

from hypothesis import HealthCheck, given, seed, settings

from tests.support.toml_documents import broken_documents, check_broken_bytes, check_valid_document, documents

BUDGET_SECONDS = 60.0
ROUND_EXAMPLES = 50  # small rounds, so the budget is kept to a few seconds


def fuzz(budget: float) -> tuple[int, list[str]]:
    """(examples run, failures found) over `budget` seconds."""
    examples = 0
    failures: list[str] = []

    def counted(check):
        def run(example):
            nonlocal examples
            examples += 1
            check(example)
        run.__name__ = check.__name__
        return run

    checks = [(documents(), counted(check_valid_document)), (broken_documents(), counted(check_broken_bytes))]
    round_settings = settings(max_examples=ROUND_EXAMPLES, deadline=None, database=None,
                              suppress_health_check=list(HealthCheck))
    rng = random.Random()
    deadline = time.monotonic() + budget
    round_number = 0
    while time.monotonic() < deadline:
        strategy, check = checks[round_number % len(checks)]
        round_seed = rng.randrange(2**32)
        try:
            seed(round_seed)(round_settings(given(strategy)(check)))()
        except Exception as error:  # noqa: BLE001 - a failure is a result to report, not a crash
            failures.append(f"{check.__name__} seed {round_seed}: {type(error).__name__}: {error}")
        round_number += 1
    return examples, failures


def run(budget: float | None = None) -> list[dict]:
    budget = budget or float(os.environ.get("FACEPACE_FUZZ_SECONDS", BUDGET_SECONDS))
    started = time.monotonic()
    examples, failures = fuzz(budget)
    for failure in failures[:10]:
        print(f"  {failure}", file=sys.stderr)
    return [
        {"name": f"TOML fuzz ({time.monotonic() - started:.0f} s): examples run",
         "value": examples, "target": "counted", "ok": True},
        {"name": "TOML fuzz: failures found", "value": len(failures), "target": "0", "ok": not failures},
    ]


if __name__ == "__main__":
    rows = run(float(sys.argv[1]) if len(sys.argv) > 1 else None)
    for row in rows:
        print(f"{row['name']:<44} {row['value']!s:<10} {row['target']:<8} {'ok' if row['ok'] else 'MISSED'}")
    sys.exit(0 if all(row["ok"] for row in rows) else 1)
