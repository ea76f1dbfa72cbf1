"""Crash drill (issue 4): the simulator SIGKILLed at random moments, restarted, and the
session log checked against what the simulator traced. See `tests/support/drill.py` for the rules.

Short here; `make bench` runs a longer one (bench/crash_drill.py). Kill moments are random:
the seed is printed, and FACEPACE_DRILL_SEED=N replays a run's choices.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.support.drill import REPO, Drill, damage, read_rows, routine_plan, salvageable, whole_sessions

KILLS = 15
ENOUGH_MID_SESSION = 3   # the drill keeps going until this many kills landed inside a session


@pytest.fixture(scope="module")
def quick_plan():
    return routine_plan("quick")


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("FACEPACE_DRILL_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash drill seed {value} (replay with FACEPACE_DRILL_SEED={value})")
    return value


@pytest.fixture
def folder():
    """Under /tmp with mode 755, so the read-only drill's unprivileged child can reach it."""
    path = Path(tempfile.mkdtemp(prefix="facepace-drill-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    os.chmod(path, 0o755)
    for sub in path.iterdir():
        os.chmod(sub, 0o755)
    shutil.rmtree(path)


def assert_clean(drill: Drill) -> None:
    tally = drill.tally
    print(drill.summary())
    assert not tally.problems, "\n".join([drill.summary(), *tally.problems[:20]])
    assert (tally.lost, tally.doubled) == (0, 0), drill.summary()


def test_killed_runs_keep_every_session_once(folder, seed, quick_plan):
    drill = Drill(folder, seed=seed, plan=quick_plan)
    drill.run(1, kill=False)   # also how long a run takes, to pick kill moments
    drill.run(4, kill=False)
    while (drill.tally.kills < KILLS or drill.tally.killed_mid_session < ENOUGH_MID_SESSION) \
            and drill.tally.runs < 4 * KILLS:
        drill.run(drill.rng.randint(1, 4))
    rows = drill.finish()
    assert_clean(drill)
    assert drill.tally.kills >= KILLS and drill.tally.killed_mid_session >= ENOUGH_MID_SESSION
    outcomes = [row.outcome for row in rows.values()]
    assert outcomes.count("interrupted") == drill.tally.interrupted >= ENOUGH_MID_SESSION - drill.tally.end_window
    assert len(rows) >= drill.tally.ended > 0


@pytest.mark.parametrize("kind", ["truncate", "noise"])
def test_a_corrupt_file_is_set_aside_and_what_can_be_read_is_kept(folder, seed, quick_plan, kind):
    drill = Drill(folder, seed=seed, plan=quick_plan)
    drill.fill_history(150)
    drill.run(2, kill=False)
    drill.corrupt_round(kind, kills=2)
    drill.finish()
    assert_clean(drill)
    assert drill.tally.repairs == 1
    if kind == "truncate":   # the first pages survive a cut: the salvage check had work to do
        assert drill.readable > 0 and drill.tally.salvaged + drill.tally.salvage_dropped_by_kill > 0
    if drill.tally.salvage_dropped_by_kill:
        print("a kill landed during the repair; see test_a_kill_during_repair_keeps_what_could_be_read")


def test_a_read_only_state_folder_runs_every_session_and_writes_nothing(folder, seed, quick_plan):
    drill = Drill(folder, seed=seed, plan=quick_plan)
    drill.run(2, kill=False)
    drill.read_only_round(runs=2, kills=1, sessions=2)
    drill.finish()   # writable again: the old sessions are all there, nothing half-written
    assert_clean(drill)
    assert drill.tally.kept_in_memory == 2 * drill.read_only_clean_runs >= 4


def test_at_scaled_speed_the_worker_writes_in_order(folder, seed, quick_plan):
    """`--speed 100`: writes go through the recorder's worker thread, as on the device."""
    drill = Drill(folder, seed=seed, plan=quick_plan, speed="100")
    while drill.tally.kills < 2 and drill.tally.runs < 8:
        drill.run(1)
    drill.finish()
    assert_clean(drill)


KILLED_DURING_SALVAGE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from device.log import logdb
    from device.log.sessionlog import SessionLog

    def power_cut(damaged, fresh, **options):
        os.kill(os.getpid(), signal.SIGKILL)   # the moment between "moved aside" and "copied over"

    logdb.salvage = power_cut
    SessionLog.open(Path(sys.argv[1]))
""")


def test_a_kill_during_repair_keeps_what_could_be_read(folder, quick_plan):
    drill = Drill(folder, seed=0, plan=quick_plan)
    drill.run(6, kill=False)
    _, before = read_rows(drill.state)
    path = drill.state / "sessions.db"
    originals = whole_sessions(path)
    damage(path, random.Random(0), "truncate")
    child = subprocess.run([sys.executable, "-c", KILLED_DURING_SALVAGE, str(path)], cwd=REPO, timeout=60)
    assert child.returncode == -signal.SIGKILL
    drill.known = {}
    drill.run(1, kill=False, check=False)   # the next start
    (aside,) = [p for p in drill.state.glob("sessions.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    readable = salvageable(aside, originals)
    assert readable, "the damage left nothing readable; pick another cut"
    _, after = read_rows(drill.state)
    assert readable <= set(after)
    assert {row.device_id for row in after.values()} == {row.device_id for row in before.values()}
