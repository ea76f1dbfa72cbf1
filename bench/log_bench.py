"""Session log: SD-card writes per session, and the host commands on long logs.

- transactions per session: commits for an 8-zone routine (start, 7 zone changes, finish);
  each is one WAL fsync with synchronous=FULL.
- pages written per session: WAL frames (4 KiB each), with checkpoints held off so every
  frame is counted.
- fsyncs per session: counted by strace (fsync + fdatasync) in a child that records 50
  sessions, minus a child that records none, so opening costs are not included but the
  WAL checkpoints that a steady stream of sessions causes are.
- host commands (`log --json`, `history --json`, `report`) at 10,000 and 100,000 sessions: a fresh
  process each (forked by a small launcher, see LAUNCHER), output to /dev/null, its time and its
  own peak RSS, and the time's ratio (they stream from SQLite, so both grow with the log, and
  memory hardly at all). The logs are built once per run (`bench_log`) and the sync bench reuses them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path
from typing import NamedTuple

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
    """A log of `sessions` finished sessions, written directly (much faster than the recorder).

    Three hours apart, so 100,000 of them start after 1970 (a sync refuses earlier dates)."""
    connection = logdb.connect(path)
    connection.execute("PRAGMA synchronous = OFF")   # a bench file: no fsync per page
    logdb.migrate(connection)
    device_id = str(uuid.uuid4())
    columns = (*logdb.SESSION_COLUMNS, "zone_count")
    with logdb.transaction(connection):
        logdb.set_meta(connection, "device_id", device_id)
        logdb.set_meta(connection, "log_id", str(uuid.uuid4()))
        for first in range(0, sessions, 1000):
            rows, zones = [], []
            for number in range(first, min(first + 1000, sessions)):
                sid, start = str(uuid.uuid4()), START - (sessions - number) * 3 * 3600
                rows.append((sid, number + 1, device_id, "daily", "sha256:bench", 3, start, start + 600,
                             start + 600, 1, "boot", 100.0, 510.0, "completed", 700.0, len(ZONES)))
                zones += [(sid, position, zone, planned, planned)
                          for position, (zone, planned) in enumerate(ZONES)]
            connection.executemany(f"INSERT INTO sessions ({', '.join(columns)}) VALUES"
                                   f" ({', '.join('?' * len(columns))})", rows)
            connection.executemany("INSERT INTO zones VALUES (?, ?, ?, ?, ?, 0)", zones)
    connection.close()


def build_host_db(path: Path, device_log: Path) -> None:
    """The computer's database holding every session of `device_log`, as a sync leaves it."""
    from companion.hostdb import HostDb

    HostDb.open(path).close()   # the schema
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("ATTACH DATABASE ? AS device", (f"{device_log.absolute().as_uri()}?mode=ro",))
    stored = ", ".join(logdb.SESSION_COLUMNS)   # the host keeps the log's columns, then date_quality
    with logdb.transaction(connection):
        connection.execute(f"INSERT INTO main.sessions ({stored}, date_quality)"
                           f" SELECT {stored}, 'clock' FROM device.sessions")
        connection.execute("INSERT INTO main.zones SELECT s.device_id, z.session_id, z.position, z.zone_id,"
                           " z.planned_seconds, z.done_seconds, z.skipped"
                           " FROM device.zones AS z JOIN device.sessions AS s ON s.id = z.session_id")
    connection.close()


_built: dict[int, Path] = {}


def bench_log(sessions: int) -> Path:
    """A state folder whose `sessions.db` holds `sessions` sessions and whose `host.db` is the
    computer's copy of them: built once per run (a 100,000-session log takes a few seconds),
    shared by this bench and the sync bench, removed when the run ends."""
    if sessions not in _built:
        folder = Path(tempfile.mkdtemp(prefix=f"facepace-bench-{sessions}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        build_log(folder / "sessions.db", sessions)
        build_host_db(folder / "host.db", folder / "sessions.db")
        _built[sessions] = folder
    return _built[sessions]


class Cost(NamedTuple):
    seconds: float
    peak_mib: float


# Linux keeps a process's peak RSS across execve, and a fork or vfork starts the child's peak at
# its parent's: a command started straight from this (large) bench reports the bench's size.
# So a small, fresh interpreter forks the command and reports the command's wait4 rusage; the
# command's peak is then its own, or this launcher's few MiB if the command is smaller still.
LAUNCHER = textwrap.dedent("""
    import os, sys, time
    began = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.execvp(sys.argv[1], sys.argv[1:])
    _, status, usage = os.wait4(pid, 0)
    print(os.waitstatus_to_exitcode(status), time.perf_counter() - began, usage.ru_maxrss)
""")


def command_cost(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Cost:
    """`command` in a fresh process, its output to /dev/null: wall time and the peak RSS of that
    process alone. Raises RuntimeError, with the end of its stderr, when it fails."""
    launched = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *command], env=env, cwd=cwd,
                              capture_output=True, text=True)
    if launched.returncode != 0 or not launched.stdout:
        raise RuntimeError(f"could not launch {command[0]}: {launched.stderr[-500:]}")
    returncode, seconds, peak_kib = launched.stdout.split()
    if returncode != "0":
        raise RuntimeError(f"{' '.join(command)} failed: {launched.stderr[-500:]}")
    return Cost(float(seconds), int(peak_kib) / 1024)   # ru_maxrss is in KiB on Linux


def facepace_cost(args: list[str], state: Path) -> Cost:
    """`facepace ARGS` on the log in `state`."""
    environment = dict(os.environ, FACEPACE_STATE_DIR=str(state), PYTHONPATH=str(REPO))
    return command_cost([sys.executable, "-m", "device", *args], env=environment, cwd=REPO)


# Host commands at two sizes: time and memory must grow with the log, not faster.
SIZES = (10_000, 100_000)
COMMANDS = {"log --json": ["log", "--json"],
            "history --json": ["history", "--json", "--db", "{state}/host.db"],
            "report": ["report", "--db", "{state}/host.db", "--out", "{state}/report.png"]}
TARGET_SECONDS, TARGET_MIB = 8.0, 64.0
# 10x the sessions: linear is 10x the time, the square of the log 100x; 15x leaves room for
# a busy machine.
LINEAR_RATIO = 15.0


def streaming_rows() -> list[dict]:
    rows = []
    for name, template in COMMANDS.items():
        costs = {}
        for sessions in SIZES:
            state = bench_log(sessions)
            costs[sessions] = facepace_cost([part.format(state=state) for part in template], state)
            cost = costs[sessions]
            rows.append({"name": f"host: `{name}`, {sessions:,} sessions (s, peak MiB)",
                         "value": f"{cost.seconds:.2f} s, {cost.peak_mib:.0f} MiB",
                         "target": f"< {TARGET_SECONDS:g} s, < {TARGET_MIB:g} MiB",
                         "ok": cost.seconds < TARGET_SECONDS and cost.peak_mib < TARGET_MIB})
        small, large = costs[SIZES[0]], costs[SIZES[-1]]
        ratio = large.seconds / small.seconds
        rows.append({"name": f"host: `{name}`, time {SIZES[-1]:,} / {SIZES[0]:,} sessions",
                     "value": f"{ratio:.1f}x (memory {large.peak_mib / small.peak_mib:.1f}x)",
                     "target": f"<= {LINEAR_RATIO:g}x", "ok": ratio <= LINEAR_RATIO})
    return rows


def run() -> list[dict]:
    transactions, pages = writes_per_session()
    fsyncs = fsyncs_per_session()
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
    ]
    return rows + streaming_rows()


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<52} {row['value']!s:>14}  target {row['target']:<22} "
              f"{'ok' if row['ok'] else 'MISSED'}")
