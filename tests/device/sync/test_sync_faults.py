"""Many syncs over a link that is cut, bit-flipped and noisy: nothing lost, nothing doubled.

The device (`facepace sync-serve` in a child process) keeps recording sessions between
syncs. Each sync runs the real `facepace sync` handler; most of them break. After one
clean sync at the end, the host database must hold exactly the device's sessions.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from device.cli import main as cli
from device.log import logdb
from device.log.sessionlog import SessionLog
from companion.hostdb import HostDb
from tests.support.sync_testing import Faults, PtyLink, record_sessions

REPO = Path(__file__).resolve().parents[3]
SYNCS = int(os.environ.get("FACEPACE_FAULT_SYNCS", "30"))


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def faulty(rng: random.Random) -> Faults:
    return Faults(cut_after=rng.choice([None, rng.randint(0, 120_000)]),
                  flip_every=rng.choice([None, 5_000, 40_000]),
                  noise_every=rng.choice([None, 3_000, 30_000]))


def test_cut_flipped_and_noisy_syncs_end_with_exactly_the_devices_sessions(tmp_path):
    rng = random.Random(20240531)
    state, host_db = tmp_path / "device", tmp_path / "host.db"
    log = SessionLog.open(state / "sessions.db", clock_synced=lambda: True)
    record_sessions(log, 150, seed=1)
    outcomes = {"ok": 0, "failed": 0}
    with PtyLink(seed=rng.randrange(2**32)) as link:
        device = subprocess.Popen(
            [sys.executable, "-m", "device", "sync-serve", "--port", link.device_port,
             "--idle-timeout", "1"],
            cwd=REPO, env=dict(os.environ, FACEPACE_STATE_DIR=str(state), PYTHONPATH=str(REPO)),
            stderr=subprocess.DEVNULL)
        try:
            for number in range(SYNCS):
                link.set_faults(faulty(rng))
                code, out, err = run_cli("sync", "--port", link.host_port, "--db", str(host_db),
                                         "--timeout", "0.6")
                if code == 0:
                    outcomes["ok"] += 1
                    assert out.endswith(f"device {log.device_id}\n")
                else:
                    outcomes["failed"] += 1
                    assert err.startswith("facepace: ") and "device" in err, err
                # Dated in the past (from 2024-07 on, a day apart: 150 syncs stay before 2025), as
                # sessions really are: the device refuses a computer's time before its newest session.
                record_sessions(log, rng.randint(0, 15), first_wall=1_720_000_000.0 + number * 86_400,
                                seed=number)
            link.set_faults(Faults())
            code, out, err = run_cli("sync", "--port", link.host_port, "--db", str(host_db))
            assert code == 0, err
        finally:
            device.terminate()
            device.wait(timeout=5)
    assert outcomes["failed"] >= SYNCS // 4, outcomes   # the faults really did break syncs

    connection = logdb.connect(state / "sessions.db", read_only=True)
    try:
        on_device = {s.id: s.as_dict() for s in logdb.read_sessions(connection)}
    finally:
        connection.close()
        log.close()
    with HostDb.open(host_db) as db:
        on_host = [record.as_dict() for record, _ in db.sessions()]
    assert len(on_host) == len({s["id"] for s in on_host})      # nothing doubled
    assert {s["id"]: s for s in on_host} == on_device             # nothing lost, field for field
