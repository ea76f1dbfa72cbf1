"""Crash drill for the session log (issue 4), shared by `tests/device/log/test_crash_drill.py` and
`bench/crash_drill.py`.

The simulator runs in a child process (`facepace sim --headless --trace FILE`) and is sent
SIGKILL at a random moment; then it is started again. The trace the child wrote is the
truth the database is checked against:

- At `--speed max` the log writes inline, `session_start` is traced after the log committed
  the session's begin, `zone_start` after the previous zone's checkpoint, and `session_end`
  after the finish. So every traced session must be in the file; a session traced as ended
  must be there with that outcome and every zone as the trace says; a session traced as
  started but not ended was killed and must come back as `interrupted` with the zones
  its last committed checkpoint had.
- Two windows cannot be seen in the trace, one at most per kill: the kill lands after a
  commit but before the trace line for it. After `begin`: one session in the file that
  the trace does not show, which must be empty and come back `interrupted`. After
  `finish`: the session the trace shows as open is complete in the file. Both are counted.

After every run the files are copied (never opened in place, so the next run alone does
the recovery) and the copy is checked: `PRAGMA integrity_check`, nothing seen before is
gone or changed (an open session may only become `interrupted`, with its progress kept),
and every new session is accounted for as above. No session may appear twice (id, or
routine with start time, or one traced session matched by two rows).

Scaled speeds (`--speed 100`) write on a worker thread, so the trace runs ahead of the
file; the worker works in order, so a killed run's sessions in the file are a prefix of
the traced ones (plus perhaps one just begun), all complete but the last.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Seconds between scripted session starts: a session (180 s) and its summary (30 s) fit, and
# the idle screen never reaches its 60 s dim deadline, whose float rounding can spin the loop
# (see the report in bench/crash_drill.py).
SESSION_GAP = 225.0
NOBODY = 65534
READ_ONLY_NOTICE = "Log read-only: kept"

SESSION_FIELDS = ("id", "routine_name", "routine_hash", "wall_start", "wall_end", "mono_start",
                  "boot_id", "device_id", "active_seconds", "outcome", "seq")

# Run as root, the child drops to `nobody` after a warm-up run. The clone may sit anywhere, e.g.
# in a 700 folder from `mktemp -d`, out of nobody's reach with the .venv in it: the warm-up, as
# root, imports the interpreter's and the libraries' modules, and the child runs from its own
# world-readable copy of our packages (its working directory), whose files it reads at every
# start (routines, fonts, defaults).
AS_NOBODY = """
import os, shutil, sys, tempfile
from device.cli.main import main
real_state = os.environ["FACEPACE_STATE_DIR"]
warm = tempfile.mkdtemp(prefix="facepace-warm-")
os.environ["FACEPACE_STATE_DIR"] = warm
main(["sim", "--headless", "--speed", "max", "--routine", sys.argv[1], "--script", "1:press"])
shutil.rmtree(warm)
os.environ["FACEPACE_STATE_DIR"] = real_state
os.setgroups([]); os.setgid(%d); os.setuid(%d)
sys.exit(main(sys.argv[2:]))
""" % (NOBODY, NOBODY)


@dataclass(frozen=True)
class Zone:
    zone_id: str
    planned: float
    done: float
    skipped: bool


@dataclass(frozen=True)
class Row:
    """One session as the file holds it (read with plain SQL, not the product's reader)."""

    id: str
    routine_name: str
    routine_hash: str
    wall_start: float
    wall_end: float | None
    mono_start: float
    boot_id: str
    device_id: str
    active_seconds: float
    outcome: str | None
    seq: int | None
    zones: tuple[Zone, ...]

    def without_seq(self) -> "Row":
        return Row(**{**self.__dict__, "seq": None})


@dataclass
class Traced:
    """One session as the child's trace tells it."""

    start: float
    zone_starts: set[int] = field(default_factory=set)
    zone_ends: dict[int, str] = field(default_factory=dict)   # index -> done | skipped | ended
    end: str | None = None                                     # completed | ended_early


@dataclass
class Tally:
    runs: int = 0
    kills: int = 0
    killed_mid_session: int = 0     # the trace shows a session started and not ended
    ended: int = 0                  # sessions the trace shows ended (completed or ended early)
    interrupted: int = 0            # sessions that came back as interrupted
    begin_window: int = 0           # killed after `begin` committed, before `session_start` was traced
    end_window: int = 0             # killed after `finish` committed, before `session_end` was traced
    lost: int = 0
    doubled: int = 0
    repairs: int = 0                # corrupt files moved aside
    salvaged: int = 0               # sessions copied over from them
    salvage_dropped_by_kill: int = 0  # see Drill.check_salvage
    kept_in_memory: int = 0         # read-only folder: sessions run to their end, not written
    misfires: int = 0               # scaled speed: a scripted tap read as a hold (see report)
    problems: list[str] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        for name, value in other.__dict__.items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.problems += other.problems


def routine_plan(name: str) -> tuple[str, list[tuple[str, float]]]:
    """(content hash, [(zone id, seconds)] of the enabled zones), from `facepace routines show`."""
    result = subprocess.run([sys.executable, "-m", "device", "routines", "show", name, "--json"],
                            cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
    routine = json.loads(result.stdout)
    return routine["content_hash"], [(z["id"], float(z["seconds"])) for z in routine["zones"]
                                     if z.get("enabled", True)]


def read_rows(folder: Path, name: str = "sessions.db") -> tuple[str, dict[str, Row]]:
    """(integrity_check answer, rows by id) of a copy of `folder/name` and its WAL."""
    copy = folder.parent / f"{folder.name}-snapshot"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir()
    try:
        for suffix in ("", "-wal"):  # not -shm: the copy rebuilds its WAL index from the WAL
            source = folder / (name + suffix)
            if source.exists():
                shutil.copyfile(source, copy / (name + suffix))
        if not (copy / name).exists():
            return "ok", {}
        db = sqlite3.connect(copy / name)
        try:
            try:
                check = "; ".join(row[0] for row in db.execute("PRAGMA integrity_check"))
            except sqlite3.DatabaseError as error:
                return f"unreadable: {error}", {}
            if check != "ok":
                return check, {}
            zones: dict[str, list[Zone]] = {}
            for sid, zone_id, planned, done, skipped in db.execute(
                    "SELECT session_id, zone_id, planned_seconds, done_seconds, skipped"
                    " FROM zones ORDER BY session_id, position"):
                zones.setdefault(sid, []).append(Zone(zone_id, planned, done, bool(skipped)))
            rows = {}
            for values in db.execute(f"SELECT {', '.join(SESSION_FIELDS)} FROM sessions"):
                row = Row(*values, zones=tuple(zones.get(values[0], ())))
                rows[row.id] = row
            return check, rows
        finally:
            db.close()
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def parse_trace(path: Path) -> tuple[list[Traced], list[dict]]:
    """Sessions in the order traced, and every event. A line torn by the kill is dropped."""
    events = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):
                events.append(json.loads(line))
    sessions: list[Traced] = []
    for event in events:
        kind = event["event"]
        if kind == "session_start":
            sessions.append(Traced(start=event["t"]))
        elif sessions and sessions[-1].end is None:
            if kind == "zone_start":
                sessions[-1].zone_starts.add(event["index"])
            elif kind == "zone_end":
                sessions[-1].zone_ends[event["index"]] = event["reason"]
            elif kind == "session_end":
                sessions[-1].end = event["reason"]
    return sessions, events


def make_script(rng: random.Random, sessions: int, first: float = 1.0) -> str:
    """Presses that start `sessions` sessions; some get a skip (double) or are ended early (hold).

    Every gesture falls inside its session's first 170 s, so each session has ended and
    its summary has gone back to idle before the next start press; a skip saves at most
    one zone (40 s) and a hold comes late, so idle stays under a minute."""
    steps = []
    for number in range(sessions):
        start = first + number * SESSION_GAP
        steps.append(f"{start:g}:press")
        roll = rng.random()
        if roll < 0.25:
            steps.append(f"{start + rng.uniform(5, 150):.2f}:double")
        elif roll < 0.40:
            steps.append(f"{start + rng.uniform(140, 165):.2f}:hold")
    return ",".join(steps)


def close_to(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-6)


class Drill:
    """One state folder, many runs of the simulator, each checked against its trace."""

    def __init__(self, folder: Path, *, seed: int, routine: str = "quick", speed: str = "max",
                 plan: tuple[str, list[tuple[str, float]]] | None = None,
                 read_only_user: bool = False) -> None:
        self.folder = Path(folder)
        self.state = self.folder / "state"
        self.traces = self.folder / "traces"
        self.state.mkdir(parents=True, exist_ok=True)
        self.traces.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.rng = random.Random(seed)
        self.routine = routine
        self.speed = speed
        self.routine_hash, self.plan = plan or routine_plan(routine)
        self.as_nobody = read_only_user
        self.tally = Tally()
        self.known: dict[str, Row] = {}     # every session seen so far, as last seen
        self.where: dict[str, str] = {}     # session id -> "run N" that wrote it
        self.damaged_ids: set[str] = set()  # sessions of files damaged on purpose (may come back)
        self.dropped_by_damage = 0          # sessions those files held
        self.damaged_hash: str | None = None  # while a damaged file waits for its repair
        self.read_only_clean_runs = 0
        self.filled = 0                     # sessions written by fill_history
        self.readable = 0                   # sessions the damaged files still had readable
        self._durations: list[tuple[int, float]] = []   # (sessions, seconds) of runs not killed
        self._log_tag = f"seed {seed}"

    # -- running -------------------------------------------------------------------------

    def command(self, script: str, trace: Path) -> list[str]:
        arguments = ["sim", "--headless", "--speed", self.speed, "--routine", self.routine,
                     "--script", script, "--trace", str(trace), "--state", str(self.state)]
        if self.as_nobody:
            return [sys.executable, "-c", AS_NOBODY, self.routine, *arguments]
        return [sys.executable, "-m", "device", *arguments]

    def child_folder(self) -> Path:
        """The child's working directory: the repository, or for `nobody` a readable copy of
        our packages (first on the child's import path: `python -c` puts the folder there)."""
        if not self.as_nobody:
            return REPO
        code = self.folder / "code-for-nobody"
        if not code.exists():
            for package in ("device", "drivers"):
                shutil.copytree(REPO / package, code / package,
                                ignore=shutil.ignore_patterns("__pycache__"))
            for path in [code, *code.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
        return code

    def expected_seconds(self, sessions: int) -> float:
        """Rough run time, from runs that were not killed (only used to pick kill moments)."""
        if not self._durations:
            if self.speed == "max":
                return 0.6 + 0.25 * sessions
            return 1.6 + sessions * SESSION_GAP / float(self.speed)   # start-up, first press, sessions
        per_session = max(seconds / (count + 2) for count, seconds in self._durations)
        return per_session * (sessions + 2)

    def first_press(self) -> float:
        # Scaled speed: give the child a real second to start before the first press.
        return 1.0 if self.speed == "max" else float(self.speed)

    def run(self, sessions: int, *, kill: bool = True, check: bool = True) -> dict:
        """One run; killed at a random moment if `kill`. Returns what happened."""
        number = self.tally.runs + 1
        self.tally.runs += 1
        trace = self.traces / f"run{number:04d}.jsonl"
        script = make_script(self.rng, sessions, self.first_press())
        delay = self.rng.uniform(0.0, self.expected_seconds(sessions)) if kill else None
        env = dict(os.environ, FACEPACE_STATE_DIR=str(self.state))
        started = time.perf_counter()
        child = subprocess.Popen(self.command(script, trace), cwd=self.child_folder(), env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # The random delay is the kill moment; if the run ends first, it was not killed.
            child.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
        try:
            _, stderr = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            _, stderr = child.communicate()
            self.problem(number, f"the simulator hung for 60 s (script {script})")
        elapsed = time.perf_counter() - started
        killed = child.returncode == -signal.SIGKILL
        self.tally.kills += killed
        stderr_text = stderr.decode(errors="replace")
        if not killed:
            self._durations.append((sessions, elapsed))
        traced, events = parse_trace(trace)
        outcome = {"run": number, "killed": killed, "returncode": child.returncode,
                   "stderr": stderr_text, "traced": traced, "events": events, "script": script}
        if check:
            self.check_run(number, outcome)
        return outcome

    def problem(self, number: int | str, message: str) -> None:
        self.tally.problems.append(f"[{self._log_tag}] run {number}: {message}")

    # -- checking --------------------------------------------------------------------------

    def check_run(self, number: int, outcome: dict) -> None:
        killed, traced, events = outcome["killed"], outcome["traced"], outcome["events"]
        misfire = any(e["event"] == "power_off" for e in events) or (
            self.speed != "max" and any(e.get("gesture") == "hold" for e in events)
            and "hold" not in outcome["script"])
        if misfire:
            self.tally.misfires += 1
        if not killed:
            if outcome["returncode"] != 0 and not misfire:
                self.problem(number, f"exit {outcome['returncode']}: {outcome['stderr'][-2000:]}")
            if "Traceback" in outcome["stderr"]:
                self.problem(number, f"traceback on stderr: {outcome['stderr'][-2000:]}")
        if killed and traced and traced[-1].end is None:
            self.tally.killed_mid_session += 1
        self.tally.ended += sum(1 for t in traced if t.end is not None)

        check, rows = read_rows(self.state)
        if check != "ok":
            if self.damaged_hash is not None and killed and \
                    file_hash(self.state / "sessions.db") == self.damaged_hash:
                return   # killed before it got to the damaged file: still as we left it
            self.problem(number, f"integrity_check: {check}")
        self.check_kept(number, rows, recovered_by_this_run=not killed)
        new = [row for sid, row in rows.items() if sid not in self.known and sid not in self.damaged_ids]
        if self.speed == "max":
            self.account_exact(number, killed, traced, new)
        else:
            self.account_in_order(number, killed, traced, new)
        for row in new:
            self.where[row.id] = f"run {number}"
        self.known = dict(rows)

    def check_kept(self, number: int, rows: dict[str, Row], *, recovered_by_this_run: bool,
                   allowed_missing: set[str] = frozenset()) -> None:
        """Nothing stored before is gone or changed; open sessions may only become interrupted."""
        for sid, before in self.known.items():
            after = rows.get(sid)
            if after is None:
                if sid not in allowed_missing:
                    self.tally.lost += 1
                    self.problem(number, f"session {sid} ({self.where.get(sid)}) is gone")
                continue
            if before.outcome is not None:
                if after != before:
                    self.problem(number, f"stored session {sid} changed: {before} -> {after}")
                continue
            if after.outcome is None:
                if recovered_by_this_run:
                    self.problem(number, f"session {sid} left open by {self.where.get(sid)} "
                                         "was not recovered by a run that started")
                continue
            self.tally.interrupted += 1
            if after.outcome != "interrupted":
                self.problem(number, f"open session {sid} came back as {after.outcome}")
            if (after.zones, after.active_seconds) != (before.zones, before.active_seconds):
                self.problem(number, f"recovery changed the progress of {sid}: {before} -> {after}")

    def account_exact(self, number: int, killed: bool, traced: list[Traced], new: list[Row]) -> None:
        unmatched = list(new)
        for position, session in enumerate(traced):
            matches = [row for row in unmatched if close_to(row.mono_start, session.start)]
            if not matches:
                self.tally.lost += 1
                self.problem(number, f"traced session at t={session.start} is not in the file")
                continue
            if len(matches) > 1:
                self.tally.doubled += len(matches) - 1
                self.problem(number, f"traced session at t={session.start} is in the file "
                                     f"{len(matches)} times")
            for row in matches:
                unmatched.remove(row)
            row = matches[0]
            last = position == len(traced) - 1
            if session.end is not None:
                self.check_finished(number, session, row)
            elif not (killed and last):
                self.problem(number, f"session at t={session.start} never ended in a run that was not killed")
            elif row.outcome is None:
                self.check_open(number, session, row)
            else:
                self.tally.end_window += 1   # finish committed, the kill came before `session_end`
                self.check_finished(number, replace_end(session, row.outcome), row)
        if unmatched:
            ended = not traced or traced[-1].end is not None
            if killed and len(unmatched) == 1 and ended and self.untraced_begin(unmatched[0], traced):
                self.tally.begin_window += 1
            else:
                self.tally.doubled += len(unmatched)
                self.problem(number, f"{len(unmatched)} session(s) in the file the trace cannot "
                                     f"explain: {unmatched}")

    def untraced_begin(self, row: Row, traced: list[Traced]) -> bool:
        """The one session a kill may leave between `begin` and its trace line: just begun."""
        after_last = not traced or row.mono_start > traced[-1].start
        untouched = all(zone.done == 0 and not zone.skipped for zone in row.zones)
        return (after_last and row.outcome is None and untouched and row.active_seconds == 0
                and self.plan_matches(row))

    def account_in_order(self, number: int, killed: bool, traced: list[Traced], new: list[Row]) -> None:
        """Worker-thread writes: the file holds a prefix of the traced sessions (plus one just begun)."""
        stored = sorted(new, key=lambda row: row.mono_start)
        if len({row.mono_start for row in stored}) != len(stored):
            self.tally.doubled += len(stored) - len({row.mono_start for row in stored})
            self.problem(number, "two sessions with the same start")
        allowed = len(traced) + (1 if killed else 0)
        if len(stored) > allowed:
            self.tally.doubled += len(stored) - allowed
            self.problem(number, f"{len(stored)} sessions stored, {len(traced)} traced")
        if not killed and len(stored) < len(traced):
            self.tally.lost += len(traced) - len(stored)
            self.problem(number, f"only {len(stored)} of {len(traced)} sessions stored by a run that ended")
        for position, row in enumerate(stored):
            last = position == len(stored) - 1
            session = traced[position] if position < len(traced) else None
            if row.mono_start > (session.start if session else math.inf) + 1e-6:
                self.problem(number, f"stored session {row.id} starts after its trace line")
            if row.outcome is None:
                if not (killed and last):
                    self.problem(number, f"session {row.id} left open, not the last of a killed run")
                if not self.plan_matches(row):
                    self.problem(number, f"session {row.id} has zones {row.zones}")
            elif session is None or session.end is None:
                self.problem(number, f"session {row.id} stored as {row.outcome}, trace shows it running")
            else:
                self.check_finished(number, session, row)

    def plan_matches(self, row: Row) -> bool:
        return (row.routine_name == self.routine and row.routine_hash == self.routine_hash
                and [(z.zone_id, z.planned) for z in row.zones] == self.plan)

    def check_finished(self, number: int, session: Traced, row: Row) -> None:
        where = f"session {row.id} (t={session.start})"
        if row.outcome != session.end:
            self.problem(number, f"{where} stored as {row.outcome}, traced as {session.end}")
        if not self.plan_matches(row):
            self.problem(number, f"{where}: zones {row.zones} do not match the routine {self.plan}")
            return
        for index, zone in enumerate(row.zones):
            reason = session.zone_ends.get(index)
            if not zone_fits(reason, zone):
                self.problem(number, f"{where}: zone {index} {zone} but the trace says {reason}")
        if not math.isclose(row.active_seconds, sum(z.done for z in row.zones), abs_tol=1e-6):
            self.problem(number, f"{where}: active {row.active_seconds} s, zones add up to "
                                 f"{sum(z.done for z in row.zones)} s")
        if row.wall_end is None or row.wall_end < row.wall_start:
            self.problem(number, f"{where}: wall_end {row.wall_end} before wall_start {row.wall_start}")

    def check_open(self, number: int, session: Traced, row: Row) -> None:
        """A killed session: zones as its last committed checkpoint had them."""
        where = f"killed session {row.id} (t={session.start})"
        if not self.plan_matches(row):
            self.problem(number, f"{where}: zones {row.zones} do not match the routine {self.plan}")
            return
        # Zone k is traced as started only after the checkpoint for zone k-1's end was
        # committed; the checkpoint after the last traced zone end may or may not have been.
        candidates = {max(session.zone_starts, default=0), len(session.zone_ends)}
        fits = any(all(zone_fits(session.zone_ends[index] if index < committed else None, zone)
                       for index, zone in enumerate(row.zones))
                   for committed in candidates)
        if not fits:
            self.problem(number, f"{where}: zones {row.zones} do not match the traced progress "
                                 f"{session.zone_ends}")
        if not math.isclose(row.active_seconds, sum(z.done for z in row.zones), abs_tol=1e-6):
            self.problem(number, f"{where}: active {row.active_seconds} s, zones add up to "
                                 f"{sum(z.done for z in row.zones)} s")

    def finish(self) -> dict[str, Row]:
        """A last run that is not killed (it recovers what the last kill left), then the whole file."""
        self.run(1, kill=False)
        check, rows = read_rows(self.state)
        if check != "ok":
            self.problem("final", f"integrity_check: {check}")
        still_open = [row.id for row in rows.values() if row.outcome is None]
        if still_open:
            self.problem("final", f"sessions still open after a clean start: {still_open}")
        starts = [(row.routine_name, row.wall_start) for row in rows.values()]
        if len(set(starts)) != len(starts):
            self.tally.doubled += len(starts) - len(set(starts))
            self.problem("final", "two sessions with the same routine and start time")
        t = self.tally
        if self.speed == "max":
            # Each killed session comes back once, either interrupted or (finish committed) ended.
            if t.interrupted != t.killed_mid_session - t.end_window + t.begin_window:
                self.problem("final", f"{t.interrupted} interrupted for {t.killed_mid_session} killed "
                                      f"mid-session ({t.end_window} had finished, {t.begin_window} "
                                      "begun untraced)")
            accounted = (t.ended + t.end_window + t.interrupted + t.salvaged + self.filled
                         - self.dropped_by_damage)
            if len(rows) != accounted:
                self.problem("final", f"{len(rows)} sessions in the file, the runs account for {accounted}")
        return rows

    # -- a corrupt file ---------------------------------------------------------------------

    def fill_history(self, count: int) -> None:
        """`count` completed sessions written through the device's own SessionLog (a sim run
        per session would take minutes), so a damaged file has pages worth salvaging."""
        from device.log import logdb
        from device.log.sessionlog import SessionLog, ZoneProgress

        def quick_connect(path):  # durability is not what is tested here
            connection = logdb.connect(path)
            connection.execute("PRAGMA synchronous = OFF")
            return connection

        finish_options = inspect.signature(SessionLog.finish).parameters
        log = SessionLog.open(self.state / "sessions.db", connect=quick_connect)
        try:
            start = time.time() - 400 * 86400
            for number in range(count):
                wall = start + number * 3600
                sid = log.begin(self.routine, self.routine_hash, 3, self.plan, mono_start=float(number),
                                wall_start=wall)
                total = sum(seconds for _, seconds in self.plan)
                extra = {"mono_end": number + total} if "mono_end" in finish_options else {}
                log.finish(sid, "completed", [ZoneProgress(z, s, s) for z, s in self.plan], total,
                           wall + total, **extra)
        finally:
            log.close()
        self.filled += count
        _, self.known = read_rows(self.state)

    def corrupt_round(self, kind: str, kills: int, sessions: int = 3) -> None:
        """Damage the file (`truncate` or `noise`), then kill runs on it; check the repair.

        The damaged file must be moved aside as it was (never deleted or changed), the sim
        must run to its summary on a fresh file, and every session that can still be read
        from the damaged copy must be copied over, whole, with the device id kept."""
        path = self.state / "sessions.db"
        before = dict(self.known)
        device_ids = {row.device_id for row in before.values()}
        originals = whole_sessions(path)
        damage(path, self.rng, kind)
        damaged_hash = self.damaged_hash = file_hash(path)
        asides_before = set(self.state.glob("sessions.db.corrupt-*"))
        self.tally.repairs += 1
        number = self.tally.runs + 1
        # The old sessions leave the comparison: what comes back is checked against `before`.
        self.known = {}
        self.damaged_ids |= set(before)
        self.dropped_by_damage += len(before)
        killed_during_repair = False
        while True:  # killed runs, until one is not (it then did the repair, if no kill had)
            outcome = self.run(sessions, kill=kills > 0)
            if not outcome["killed"]:
                break
            killed_during_repair = True
            kills -= 1
        self.damaged_hash = None
        self.run(1, kill=False)
        asides = [p for p in set(self.state.glob("sessions.db.corrupt-*")) - asides_before
                  if not p.name.endswith(("-wal", "-shm"))]
        if len(asides) != 1:
            self.problem(number, f"expected one damaged copy, found {sorted(asides)}")
            return
        if file_hash(asides[0]) != damaged_hash:
            self.problem(number, f"{asides[0].name} is not the damaged file as it was")
        readable = salvageable(asides[0], originals)
        self.readable += len(readable)
        _, rows = read_rows(self.state)
        salvaged = {sid: row for sid, row in rows.items() if sid in before}
        self.tally.salvaged += len(salvaged)
        for sid, row in salvaged.items():
            original = before[sid]
            if row.outcome is None:
                self.problem(number, f"salvaged session {sid} is open")
            elif row.without_seq() != original.without_seq():   # whole, zones and all
                self.problem(number, f"salvaged session {sid} differs: {original} -> {row}")
        missing = readable - set(salvaged)
        if missing:
            if killed_during_repair:
                self.tally.salvage_dropped_by_kill += 1
            else:
                self.tally.lost += len(missing)
                self.problem(number, f"{len(missing)} readable sessions not copied over")
        new_devices = {row.device_id for row in rows.values()}
        if device_ids and new_devices != device_ids and not missing:
            self.problem(number, f"device id changed by the repair: {device_ids} -> {new_devices}")

    # -- a read-only state folder -------------------------------------------------------------

    def read_only_round(self, runs: int, kills: int, sessions: int = 2) -> None:
        """The state folder cannot be written: the sim must still run every session to its
        summary, say so once, and leave the folder exactly as it was."""
        listing = {p.name: file_hash(p) for p in self.state.iterdir() if p.is_file()}
        if os.geteuid() == 0:
            self.as_nobody = True
            os.chmod(self.traces, 0o777)
        else:
            os.chmod(self.state, 0o555)
        try:
            for _ in range(runs):
                self.check_read_only_run(self.run(sessions, kill=False, check=False), listing, sessions)
            goal, attempts = self.tally.kills + kills, 0
            while self.tally.kills < goal and attempts < 4 * kills:
                attempts += 1
                self.check_read_only_run(self.run(sessions, check=False), listing, sessions)
        finally:
            self.as_nobody = False
            os.chmod(self.state, 0o755)

    def check_read_only_run(self, outcome: dict, listing: dict[str, str], sessions: int) -> None:
        number, traced = outcome["run"], outcome["traced"]
        now = {p.name: file_hash(p) for p in self.state.iterdir() if p.is_file()}
        if now != listing:
            self.problem(number, f"read-only folder changed: {sorted(listing)} -> {sorted(now)}")
        if "Traceback" in outcome["stderr"]:
            self.problem(number, f"traceback: {outcome['stderr'][-2000:]}")
        if outcome["killed"]:
            return
        self.read_only_clean_runs += 1
        if outcome["returncode"] != 0:
            self.problem(number, f"exit {outcome['returncode']} on a read-only folder: "
                                 f"{outcome['stderr'][-2000:]}")
        if len(traced) != sessions or any(t.end is None for t in traced):
            self.problem(number, f"{len(traced)} sessions traced, {sessions} scripted, all to end")
        if outcome["stderr"].count(READ_ONLY_NOTICE) != 1:
            self.problem(number, f"expected the notice {READ_ONLY_NOTICE!r} once: {outcome['stderr'][-2000:]}")
        self.tally.kept_in_memory += sum(1 for t in traced if t.end is not None)

    def summary(self) -> str:
        t = self.tally
        return (f"seed {self.seed}: {t.runs} runs, {t.kills} kills ({t.killed_mid_session} mid-session), "
                f"{t.ended} sessions ended, {t.interrupted} interrupted, windows begin/end "
                f"{t.begin_window}/{t.end_window}, lost {t.lost}, doubled {t.doubled}, "
                f"{len(t.problems)} problems")


def zone_fits(reason: str | None, zone: Zone) -> bool:
    """A stored zone against how the trace says it ended (None: not ended)."""
    if reason == "done":
        return math.isclose(zone.done, zone.planned, abs_tol=1e-6) and not zone.skipped
    if reason == "skipped":
        return zone.skipped and 0 <= zone.done <= zone.planned
    if reason == "ended":
        return not zone.skipped and 0 <= zone.done <= zone.planned
    return zone.done == 0 and not zone.skipped


def replace_end(session: Traced, end: str) -> Traced:
    return Traced(session.start, session.zone_starts, session.zone_ends, end)


def damage(path: Path, rng: random.Random, kind: str) -> None:
    """`truncate`: cut at a page boundary in the last 40 % of the file (a cut further in
    often leaves no session readable, which would leave nothing to check).
    `noise`: overwrite one to three pages in the middle with random bytes."""
    size = path.stat().st_size
    pages = size // 4096
    with open(path, "r+b") as damaged:
        if kind == "truncate":
            damaged.truncate(rng.randint(max(1, pages * 6 // 10), max(1, pages - 1)) * 4096)
        elif kind == "noise":
            count = rng.randint(1, 3)
            damaged.seek(rng.randint(max(1, pages // 4), max(1, pages * 3 // 4 - count)) * 4096)
            damaged.write(rng.randbytes(count * 4096))
        else:
            raise ValueError(f"damage kind must be truncate or noise, got {kind!r}")


def salvageable(damaged: Path, originals: dict[str, tuple]) -> set[str]:
    """Ids of the sessions plain SQLite still reads from a copy of `damaged` exactly as they
    were written, every zone included (`originals`: from `whole_sessions` of the file before
    the damage). A table scan, a lookup by id each and a lookup by rowid each: no rebuilt
    header, nothing of the product's salvage. The oracle for "what can still be read"."""
    scratch = damaged.parent.parent / f"{damaged.parent.name}-oracle"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    readable = set()
    try:
        for suffix in ("", "-wal"):
            if damaged.with_name(damaged.name + suffix).exists():
                shutil.copyfile(damaged.with_name(damaged.name + suffix), scratch / f"damaged.db{suffix}")
        try:
            db = sqlite3.connect(f"{(scratch / 'damaged.db').as_uri()}?mode=ro", uri=True)
            # SQLite's own switch for reading a file shorter than its header says.
            db.execute("PRAGMA writable_schema = ON")
        except sqlite3.Error:
            return readable
        try:
            # The zone count (schema 4 on) is part of the row: it is how the product tells all of a
            # session's zones from the first few. A row whose count cannot be read (or reads
            # other than the zones' number) is not read whole, though every other field be.
            try:
                counted = "zone_count" in {info[1] for info in db.execute("PRAGMA table_info(sessions)")}
            except sqlite3.Error:
                return readable
            columns = ", ".join((*WHOLE_SESSION, "zone_count") if counted else WHOLE_SESSION)
            rows = set()   # a table scan up to the first unreadable page, then lookups
            try:
                for row in db.execute(f"SELECT {columns} FROM sessions"):
                    rows.add(row)
            except sqlite3.Error:
                pass
            # The id finds the rowid through the id index; the row is then read from the table.
            # Not `SELECT ... WHERE id = ?`: SQLite answers the `id` column of that from the
            # index, so a row whose own id bytes were damaged (the index still holding the old
            # id) read back as written, although no read of the row itself gives that id.
            # The session's id is in the table row; the product reads values only from there.
            for sid in originals:
                try:
                    rows.add(db.execute(f"SELECT {columns} FROM sessions WHERE rowid ="
                                        " (SELECT rowid FROM sessions WHERE id = ?)", (sid,)).fetchone())
                except sqlite3.Error:
                    continue
            # And by rowid, the table's own key: a row past the page that stopped the scan
            # whose id index entry was damaged too is still read by it. Sessions are never
            # deleted, so the rowids are 1 to their number.
            for rowid in range(1, len(originals) + 1):
                try:
                    rows.add(db.execute(f"SELECT {columns} FROM sessions WHERE rowid = ?", (rowid,)).fetchone())
                except sqlite3.Error:
                    continue
            for sid, (row, zones) in originals.items():
                if ((*row, len(zones)) if counted else row) not in rows:
                    continue
                try:
                    got_zones = db.execute(f"SELECT {', '.join(WHOLE_ZONE)} FROM zones"
                                           " WHERE session_id = ? ORDER BY position", (sid,)).fetchall()
                except sqlite3.Error:
                    continue
                if tuple(got_zones) == zones:
                    readable.add(sid)
        finally:
            db.close()
        return readable
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- Damaged files (issue 10): what a card, a cut or a bad sector does to the log ------------

WHOLE_SESSION = ("id", "device_id", "routine_name", "routine_hash", "intensity", "wall_start",
                 "wall_end", "wall_checkpoint", "wall_trusted", "boot_id", "mono_start",
                 "active_seconds", "outcome", "mono_end")   # every field but seq (given afresh)
WHOLE_ZONE = ("position", "zone_id", "planned_seconds", "done_seconds", "skipped")
DAMAGE_KINDS = ("noise", "zero_header", "header_noise", "truncate", "torn_wal")


def whole_sessions(path: Path) -> dict[str, tuple]:
    """{id: (row, zones)} of a healthy log (with its -wal), in the columns `salvageable` reads."""
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    # A damage quick_check does not see can leave bytes that are not UTF-8 in a row.
    db.text_factory = lambda data: data.decode("utf-8", "replace")
    try:
        zones: dict[str, list[tuple]] = {}
        for row in db.execute(f"SELECT session_id, {', '.join(WHOLE_ZONE)} FROM zones"
                              " ORDER BY session_id, position"):
            zones.setdefault(row[0], []).append(row[1:])
        return {row[0]: (row, tuple(zones.get(row[0], ())))
                for row in db.execute(f"SELECT {', '.join(WHOLE_SESSION)} FROM sessions")}
    finally:
        db.close()


def write_history(folder: Path, count: int, *, zones: int = 8, in_wal: int = 0, seed: int = 0) -> Path:
    """A log as a power cut leaves it: `count` completed sessions of `zones` zones written
    through the device's SessionLog, the last `in_wal` of them only in the -wal (the cut came
    before a checkpoint). Returns `folder/sessions.db`.

    The same `seed` gives the same main file byte for byte (a -wal differs only in SQLite's
    own salts and checksums): ids (random UUIDs on the device) decide the id index and the
    zones tree, so what a given damage hits, and a failure must replay."""
    from device.log import logdb
    from device.log.sessionlog import SessionLog, ZoneProgress

    def quick_connect(path):  # durability is not what is tested here; no checkpoints
        connection = logdb.connect(path)
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        return connection

    work = folder / "writing"
    work.mkdir(parents=True)
    plan = [(f"zone{n}", 30.0 + n) for n in range(zones)]
    start = 1_717_000_000.0
    def checkpoint():
        connection = logdb.connect(work / "sessions.db")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()

    ids = random.Random(seed)
    log = SessionLog.open(work / "sessions.db", connect=quick_connect, clock_synced=lambda: True,
                          boot_id_path=work / "no-boot-id", wall_time=lambda: start,
                          new_id=lambda: str(uuid.UUID(int=ids.getrandbits(128), version=4)))
    try:
        for number in range(count):
            if number == count - in_wal:
                checkpoint()
            wall = start + number * 3600
            sid = log.begin("daily", "sha256:" + "ab" * 32, 3, plan, mono_start=float(number),
                            wall_start=wall)
            done = [ZoneProgress(z, s, s if n % 5 else s / 2, n % 5 == 0) for n, (z, s) in enumerate(plan)]
            log.finish(sid, "completed", done, sum(z.done_seconds for z in done), wall + 300,
                       mono_end=number + 300.0)
        if not in_wal:
            checkpoint()
        for suffix in ("", "-wal"):   # the files as they are at the cut, the log still open
            source = work / f"sessions.db{suffix}"
            if source.exists() and (suffix == "" or in_wal):
                shutil.copyfile(source, folder / f"sessions.db{suffix}")
    finally:
        log.close()
        shutil.rmtree(work)
    return folder / "sessions.db"


def damage_log(path: Path, kind: str, rng: random.Random, *, at: float | None = None,
               length: int | None = None) -> str:
    """Damage a log in one of DAMAGE_KINDS; returns what was done (for a failure's message).

    `noise`: random bytes (`length`, else 20 B to 16 KiB) past the first page, at `at`
    (a fraction of the file) or a random place. `zero_header`: the 100-byte header zeroed.
    `header_noise`: a few random bytes in the header. `truncate`: cut anywhere past the
    first page. `torn_wal`: the -wal cut inside a frame with noise before the cut, and
    random bytes in the main file as well (a cut mid-write on a failing card)."""
    size = path.stat().st_size
    where = (lambda low, high: low + int(at * max(0, high - low))) if at is not None else rng.randint
    with open(path, "r+b") as file:
        if kind in ("noise", "torn_wal"):
            length = length or rng.choice((20, 100, 4096, 8192, 16384))
            length = min(length, max(1, size - 4096))
            offset = where(4096, size - length)
            file.seek(offset)
            file.write(rng.randbytes(length))
            done = f"{length} random bytes at {offset}"
        elif kind == "zero_header":
            file.write(bytes(100))
            done = "header zeroed"
        elif kind == "header_noise":
            offset = where(16, 99)
            file.seek(offset)
            file.write(rng.randbytes(min(length or rng.randint(1, 8), 100 - offset)))
            done = f"random bytes in the header at {offset}"
        elif kind == "truncate":
            cut = where(4096, size - 1)
            file.truncate(cut)
            done = f"cut at {cut} of {size}"
        else:
            raise ValueError(f"damage kind must be one of {DAMAGE_KINDS}, got {kind!r}")
    if kind == "torn_wal":
        wal = path.with_name(path.name + "-wal")
        wal_size = wal.stat().st_size if wal.exists() else 0
        if wal_size > 32:
            cut = where(32, wal_size)
            with open(wal, "r+b") as file:
                file.seek(max(32, cut - 512))
                file.write(rng.randbytes(min(512, cut - 32)))
                file.truncate(cut)
            done += f"; -wal torn at {cut} of {wal_size}"
    return done


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def salvage_case(image: Path, originals: dict[str, tuple], folder: Path, kind: str,
                 rng: random.Random, **where) -> dict:
    """Damage a copy of the log in `image` (into `folder`), open it as the device does, and
    check it: every session plain SQLite still reads (`salvageable`) kept as written, every
    session kept whole, the damaged file kept as it was, no scratch file left behind."""
    from device.log.sessionlog import NOTICE_REPAIRED, SessionLog

    shutil.copytree(image, folder, ignore=shutil.ignore_patterns("*-shm"))
    path = folder / "sessions.db"
    done = damage_log(path, kind, rng, **where)
    damaged_bytes = path.read_bytes()
    readable = salvageable(path, originals)
    log = SessionLog.open(path, boot_id_path=folder / "no-boot-id", clock_synced=lambda: True,
                          wall_time=lambda: 1_717_000_000.0)
    repaired = NOTICE_REPAIRED in log.take_notices()
    log.close()
    kept = whole_sessions(path)
    db = sqlite3.connect(path)
    try:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        zone_counts = dict(db.execute("SELECT id, zone_count FROM sessions"))
    finally:
        db.close()
    problems = [f"{done}: {len(readable - kept.keys())} of {len(readable)} readable sessions not kept"
                ] if readable - kept.keys() else []
    problems += [f"{done}: session {sid} changed" for sid in readable & kept.keys()
                 if kept[sid] != originals[sid]]
    partial = [sid for sid, (_, zones) in kept.items()
               if len(zones) != zone_counts[sid] or [z[0] for z in zones] != list(range(len(zones)))]
    problems += [f"{done}: session {sid} kept with part of its zones" for sid in partial]
    if repaired:
        asides = [p for p in folder.glob("sessions.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
        if [p.read_bytes() for p in asides] != [damaged_bytes]:
            problems.append(f"{done}: the damaged file was not kept as it was")
        if check != "ok":
            problems.append(f"{done}: integrity_check after the repair: {check}")
    if list(folder.glob("*.salvage*")) or list(folder.glob("*.repairing*")):
        problems.append(f"{done}: scratch files left behind")
    return {"done": done, "readable": readable, "kept": kept, "repaired": repaired,
            "check": check, "zone_counts": zone_counts, "problems": problems}
