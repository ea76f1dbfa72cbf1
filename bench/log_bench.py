"""Session log: SD-card writes per session, and `facepace log --json` on 10,000 sessions.

- transactions per session: commits for an 8-zone routine (start, 7 zone changes, finish);
  each is one WAL fsync with synchronous=FULL.
- pages written per session: WAL frames (4 KiB each), with checkpoints held off so every
  frame is counted.
- fsyncs per session: counted by strace (fsync + fdatasync) in a child that records 50
  sessions, minus a child that records none, so opening costs are not included but the
  WAL checkpoints that a steady stream of sessions causes are.
- `log --json` on 10,000 sessions: a fresh process, best of three, output to /dev/null.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from device.log import logdb
from device.log.sessionlog import SessionLog, ZoneProgress

REPO = Path(__file__).resolve().parents[1]
ZONES = [("oil", 30.0), ("neck", 60.0), ("jawline", 75.0), ("cheeks", 90.0),
         ("under_eye", 45.0), ("brows", 60.0), ("forehead", 90.0), ("collarbone", 60.0)]
START = 1_717_000_000.0


def record_session(log: SessionLog, start: float) -> None:
    """What the app does for one daily routine: begin, a checkpoint per zone change, finish."""
    sid = log.begin("daily", "sha256:bench", 3, ZONES, mono_start=start, wall_start=start)
    done = [0.0] * len(ZONES)
    for index in range(1, len(ZONES)):
        done[index - 1] = ZONES[index - 1][1]
        zones = [ZoneProgress(z, p, d) for (z, p), d in zip(ZONES, done)]
        log.checkpoint(sid, zones, active_seconds=sum(done), mono_now=start + sum(done))
    zones = [ZoneProgress(z, p, p) for z, p in ZONES]
    log.finish(sid, "completed", zones, active_seconds=sum(p for _, p in ZONES), wall_end=start + 600,
               mono_end=start + 600)


def writes_per_session(sessions: int = 20) -> tuple[float, float]:
    """(transactions, WAL pages) per session."""
    folder = Path(tempfile.mkdtemp(prefix="facepace-bench-"))
    opened: list[sqlite3.Connection] = []
    statements: list[str] = []

    def connect(path: Path) -> sqlite3.Connection:
        connection = logdb.connect(path)
        connection.execute("PRAGMA wal_autocheckpoint = 0")  # keep every frame in the WAL to count it
        connection.set_trace_callback(statements.append)
        opened.append(connection)
        return connection

    try:
        log = SessionLog.open(folder / "sessions.db", connect=connect, clock_synced=lambda: True)
        opened[-1].execute("PRAGMA wal_checkpoint(TRUNCATE)")
        statements.clear()
        for number in range(sessions):
            record_session(log, START + number * 3600)
        commits = sum(1 for s in statements if s.strip().upper() == "COMMIT")
        frames = opened[-1].execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        log.close()
        return commits / sessions, frames / sessions
    finally:
        shutil.rmtree(folder, ignore_errors=True)


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from bench.log_bench import record_session, START
    from device.log.sessionlog import SessionLog
    log = SessionLog.open(Path(sys.argv[1]), clock_synced=lambda: True)
    for number in range(int(sys.argv[2])):
        record_session(log, START + number * 3600)
    log.close()
""")


def fsyncs_per_session(sessions: int = 50) -> float | None:
    """Counted by strace; None when strace is not installed."""
    if shutil.which("strace") is None:
        return None
    counts = []
    for count in (0, sessions):
        folder = Path(tempfile.mkdtemp(prefix="facepace-bench-"))
        try:
            trace = folder / "trace"
            subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-o", str(trace),
                            sys.executable, "-c", CHILD, str(folder / "sessions.db"), str(count)],
                           cwd=REPO, check=True, capture_output=True)
            counts.append(sum(1 for line in trace.read_text().splitlines() if "sync(" in line))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return (counts[1] - counts[0]) / sessions


def build_log(path: Path, sessions: int) -> None:
    """A log of `sessions` finished sessions, written directly (much faster than the recorder)."""
    connection = logdb.connect(path)
    logdb.migrate(connection)
    device_id = str(uuid.uuid4())
    with logdb.transaction(connection):
        logdb.set_meta(connection, "device_id", device_id)
        logdb.set_meta(connection, "log_id", str(uuid.uuid4()))
        for number in range(sessions):
            sid, start = str(uuid.uuid4()), START - (sessions - number) * 86400 / 2
            connection.execute(
                f"INSERT INTO sessions ({', '.join(logdb.SESSION_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(logdb.SESSION_COLUMNS))})",
                (sid, number + 1, device_id, "daily", "sha256:bench", 3, start, start + 600,
                 start + 600, 1, "boot", 100.0, 510.0, "completed", 700.0))
            connection.executemany(
                "INSERT INTO zones VALUES (?, ?, ?, ?, ?, 0)",
                [(sid, position, zone, planned, planned) for position, (zone, planned) in enumerate(ZONES)])
    connection.close()


def log_json_seconds(sessions: int = 10_000, repeats: int = 3) -> float:
    folder = Path(tempfile.mkdtemp(prefix="facepace-bench-"))
    try:
        build_log(folder / "sessions.db", sessions)
        environment = dict(os.environ, FACEPACE_STATE_DIR=str(folder))
        best = float("inf")
        for _ in range(repeats):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "device", "log", "--json"], cwd=REPO,
                           env=environment, check=True, stdout=subprocess.DEVNULL)
            best = min(best, time.perf_counter() - began)
        return best
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run() -> list[dict]:
    transactions, pages = writes_per_session()
    fsyncs = fsyncs_per_session()
    seconds = log_json_seconds()
    target_transactions = len(ZONES) + 1  # start, every zone change, finish
    rows = [
        {"name": "log: transactions per 8-zone session", "value": round(transactions, 2),
         "target": f"<= {target_transactions}", "ok": transactions <= target_transactions},
        {"name": "log: pages written per session (4 KiB WAL frames)", "value": round(pages, 1),
         "target": "<= 4 per transaction", "ok": pages <= 4 * target_transactions},
        {"name": "log: fsyncs per session (strace)",
         "value": "strace missing" if fsyncs is None else round(fsyncs, 2),
         "target": f"<= {target_transactions + 1}",
         "ok": fsyncs is not None and fsyncs <= target_transactions + 1},
        {"name": "log: `facepace log --json`, 10,000 sessions (s)", "value": round(seconds, 3),
         "target": "< 1.0", "ok": seconds < 1.0},
    ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<52} {row['value']!s:>14}  target {row['target']:<22} "
              f"{'ok' if row['ok'] else 'MISSED'}")
