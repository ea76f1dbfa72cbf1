"""Sync: 10,000 sessions over a pty pair, first sync and a sync with nothing new.

The device side is `facepace sync-serve` in its own process, as on the device; the host
side is `device.sync.host.sync` timed in this process (a fresh `facepace sync` process
adds Python's start-up, about 0.2 s, which is not the protocol's cost).
Also: the fault drill at a larger count than `make test` runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from device import logdb
from device.sessionlog import SessionLog
from device.sync import host
from device.sync.hostdb import HostDb
from device.sync.testing import PtyLink, record_sessions

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 10_000


def _fast_connect(path: Path):
    # Filling the bench log only: no fsync per session, or set-up takes a minute.
    connection = logdb.connect(path)
    connection.execute("PRAGMA synchronous = OFF")
    return connection


def timed_syncs(sessions: int = SESSIONS) -> tuple[float, float, int]:
    folder = Path(tempfile.mkdtemp(prefix="facepace-sync-bench-"))
    try:
        with SessionLog.open(folder / "state" / "sessions.db", clock_synced=lambda: True,
                             connect=_fast_connect) as log:
            record_sessions(log, sessions)
        with PtyLink() as link:
            device = subprocess.Popen(
                [sys.executable, "-m", "device.cli_sync", "sync-serve", "--port", link.device_port],
                cwd=REPO, stderr=subprocess.DEVNULL,
                env=dict(os.environ, FACEPACE_STATE_DIR=str(folder / "state"), PYTHONPATH=str(REPO)))
            try:
                with HostDb.open(folder / "host.db") as db:
                    port = host.open_device(link.host_port)
                    try:
                        _warm_up(port, db)
                        started = time.perf_counter()
                        first = host.sync(port, db)
                        first_seconds = time.perf_counter() - started
                        started = time.perf_counter()
                        host.sync(port, db)
                        again_seconds = time.perf_counter() - started
                    finally:
                        port.close()
            finally:
                device.terminate()
                device.wait(timeout=5)
        return first_seconds, again_seconds, first.new
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _warm_up(port, db) -> None:
    """Wait until the server process has opened its end (its start-up is not the sync)."""
    link = host.Link(port, timeout=10)
    link.request(host.p.HELLO, host.p.WELCOME, protocol=host.p.PROTOCOL_VERSION, host_id="bench-warm-up")


def fault_drill(syncs: int = 150) -> tuple[bool, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/test_sync_faults.py"], cwd=REPO, capture_output=True,
                            env=dict(os.environ, FACEPACE_FAULT_SYNCS=str(syncs)))
    return result.returncode == 0, time.perf_counter() - started


def run() -> list[dict]:
    first, again, count = timed_syncs()
    drill_ok, drill_seconds = fault_drill()
    return [
        {"name": f"sync: first, {SESSIONS} sessions over pty", "value": f"{first:.2f} s",
         "target": "< 5 s", "ok": first < 5 and count == SESSIONS},
        {"name": "sync: nothing new", "value": f"{again * 1000:.0f} ms", "target": "< 200 ms",
         "ok": again < 0.2},
        {"name": "sync: fault drill, 150 broken syncs", "value": f"{'exact' if drill_ok else 'MISMATCH'}"
         f" ({drill_seconds:.0f} s)", "target": "exact", "ok": drill_ok},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<40} {row['value']:<16} {row['target']:<10} {'ok' if row['ok'] else 'MISSED'}")
