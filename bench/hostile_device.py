"""The hostile-device fuzzer (tests/device/sync/test_sync_hostile_device.py) at a larger count than `make test` runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = 500


def run() -> list[dict]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/device/sync/test_sync_hostile_device.py", "-k", "whatever_a_device_sends"],
                            cwd=REPO, capture_output=True, text=True,
                            env=dict(os.environ, FACEPACE_HOSTILE_EXAMPLES=str(EXAMPLES)))
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-4000:], file=sys.stderr)
    return [{"name": f"sync: hostile device, {EXAMPLES} fuzzed syncs",
             "value": f"{'held' if result.returncode == 0 else 'BROKE'} ({seconds:.0f} s)",
             "target": "held", "ok": result.returncode == 0}]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<40} {row['value']:<16} {row['target']:<10} {'ok' if row['ok'] else 'MISSED'}")
