"""`log --json/--csv`, `history --json/--csv` and `report` stream the sessions from SQLite.

A Pi Zero 2 has 512 MB: `log --json` on 100,000 sessions used to hold the whole log, its JSON
and that JSON joined (349 MiB). Now each command holds about one session at a time, and
`history --json` prints what it printed before (`make bench` has the time and peak RSS at
10,000 and 100,000 sessions).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from companion.hostdb import HostDb
from device.cli import main as cli
from device.log import logdb, session_columns
from device.log.logdb import SessionRecord, ZoneProgress
from device.log.sessionlog import SessionLog
from tests.support.sync_testing import record_sessions

MAY_6 = datetime.fromisoformat("2024-05-06T08:00:00+00:00").timestamp()
SESSIONS = 1500
MEMORY_BOUND = 1024 * 1024   # bytes; holding the sessions took 4-7 MiB for 1,500 of them


@pytest.fixture
def local_time(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")   # start_local and end_local show the offset
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def session(number: int, device_id: str, **changes) -> SessionRecord:
    start = MAY_6 + number * 3600.25
    values = dict(id=f"s-{number:03}", device_id=device_id, routine_name="daily", routine_hash="sha256:ab",
                  intensity=3, wall_start=start, wall_trusted=True, boot_id="boot-1", mono_start=12.5,
                  active_seconds=150.75, outcome="completed", wall_end=start + 160.5,
                  wall_checkpoint=start + 160.5, mono_end=173.0, seq=number + 1,
                  zones=(ZoneProgress("neck", 60.0, 60.0), ZoneProgress("jawline", 90.0, 12.25, True)))
    return SessionRecord(**{**values, **changes})


def test_history_json_prints_what_it_printed_before(tmp_path, local_time, capsys):
    """The old command dumped `session_fields` of every stored row as one indented array."""
    db_path = tmp_path / "synced.db"
    with HostDb.open(db_path) as db:
        db.store_batch("fp-alpha", "log-1", [
            (session(0, "fp-alpha"), "clock"),
            (session(1, "fp-alpha", wall_trusted=False, outcome="interrupted", wall_end=None,
                     mono_end=None), "estimated"),
            (session(2, "fp-alpha", zones=(), outcome="ended_early"), "host"),
            (session(3, "fp-alpha", routine_name='Ölmassage "sanft"\t\u00e9\U0001F600'), "clock"),
            (session(4, "fp-alpha", wall_start=MAY_6 + 200 * 86400), "clock"),   # summer: +02:00
        ], 5)
        db.store_batch("fp-beta", "log-2", [(session(5, "fp-beta", wall_start=MAY_6, id="s-000"), "clock")], 1)
        old_output = json.dumps([session_columns.session_fields(row) for row in db.sessions()], indent=1)

    assert cli.main(["history", "--json", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == json.loads(old_output)
    # An array with a session per line, as `log --json` prints it.
    lines = out.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 2 + 6
    assert [json.loads(line.rstrip(","))["id"] for line in lines[1:-1]] == [
        "s-004", "s-003", "s-002", "s-001", "s-000", "s-000"]


def test_log_json_and_history_json_print_a_session_alike(tmp_path, local_time, monkeypatch, capsys):
    """One builder (`logdb.session_json`) for the device's log and the computer's copy."""
    monkeypatch.setenv("FACEPACE_STATE_DIR", str(tmp_path / "state"))
    with SessionLog.open(tmp_path / "state" / "sessions.db", clock_synced=lambda: True,
                         boot_id_path=tmp_path / "none") as log:
        record_sessions(log, 3)
    copied = tmp_path / "synced.db"
    fill_host_db(tmp_path / "state" / "sessions.db", copied)
    assert cli.main(["log", "--json"]) == 0
    on_device = capsys.readouterr().out
    assert cli.main(["history", "--json", "--db", str(copied)]) == 0
    assert capsys.readouterr().out == on_device and on_device.count("\n") == 5


def fill_host_db(device_log: Path, host_db: Path) -> None:
    """The computer's copy of a device's log, stored as a sync stores it, a batch at a time."""
    connection = logdb.connect(device_log, read_only=True)
    try:
        rows = list(session_columns.read_device_rows(connection))
    finally:
        connection.close()
    with HostDb.open(host_db) as db:
        rows.sort(key=lambda row: row[0].seq)
        for first in range(0, len(rows), 250):
            batch = rows[first:first + 250]
            db.store_batch(batch[0][0].device_id, "log-1", batch, batch[-1][0].seq)


@pytest.fixture(scope="module")
def long_history(tmp_path_factory) -> Path:
    """A state folder whose log has SESSIONS sessions, and `synced.db`, the computer's copy."""
    state = tmp_path_factory.mktemp("long")

    def fast_connect(path):
        connection = logdb.connect(path)
        connection.execute("PRAGMA synchronous = OFF")   # no fsync per session: set-up only
        return connection

    with SessionLog.open(state / "sessions.db", clock_synced=lambda: True, connect=fast_connect,
                         boot_id_path=state / "none") as log:
        record_sessions(log, SESSIONS)
    fill_host_db(state / "sessions.db", state / "synced.db")
    return state


class CountingSink:
    """Standard output that keeps only how much was written."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, text: str) -> int:
        self.written += len(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("argv", [["log", "--json"], ["log", "--csv"], ["history", "--json"],
                                  ["history", "--csv"], ["report", "--out", "{state}/report.png"]])
def test_a_long_history_is_never_in_memory_whole(long_history, monkeypatch, argv):
    monkeypatch.setenv("FACEPACE_STATE_DIR", str(long_history))
    argv = [part.format(state=long_history) for part in argv]
    if argv[0] != "log":
        argv += ["--db", str(long_history / "synced.db")]
    sink = CountingSink()
    monkeypatch.setattr("sys.stdout", sink)
    assert cli.main(argv) == 0            # imports, fonts and caches: not what is measured
    tracemalloc.start()
    try:
        assert cli.main(argv) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.written > 0
    assert peak < MEMORY_BOUND, f"{peak / 1024:.0f} KiB"
