"""The device on a Pi Zero 2's budget: its process in a CPU quota of 1 ms per 10 ms on one core,
beside an unlimited twin in the same run, for every figure of issue 12's table.

Method and limits: bench/README.md. `python -m bench pi_budget` runs this part alone.
The device side is bench/pi_device.py (the real `facepace run` on mock pins and a fake panel,
or the simulator at speed 1, with the real log and the sync server on a pty); the computer's side
(the pty bridge, the sync client) runs here, outside the quota, as the USB gadget and the
computer are not the Pi's CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_quota import CpuQuota, QuotaUnavailable
from bench.device_bench import percentile

REPO = Path(__file__).resolve().parents[1]
QUOTA_US, PERIOD_US = 1000, 10_000     # one tenth of a core, in 10 ms windows: see bench/README.md
SESSIONS = 10_000
PRESSES = 30
STARTUP_RUNS = 3
# The routine is pressed once the idle screen is up with the log read (on the quota, with 10k
# sessions, the worker opens and reads the log in the first ~2 s), as a person looks before pressing;
# and once at once, to show what that first read costs a session started during it.
PRESS_AFTER, AT_ONCE = 3.0, 0.2
GUARD_SECONDS = 180                    # a device that never answers is a failure, not a hang
SYNC_GUARD_SECONDS = 90                # a sync still running then is reported as that long
SYNC_NICE = 10                         # systemd/facepace-sync.service's Nice=

# The figures in groups, each of the table's rows in one: `python -m bench.pi_budget sync flood`
# measures only those (a run on the quota takes a minute or more, on a machine others share).
GROUPS = ("startup", "firmware", "sync", "pacing", "flood")

# 60 s: ticks at four tempos, two two-sided zones (switch cues), a zone with no ticks.
PACING_ROUTINE = """
title = "Pi budget"
[[zones]]
id = "a"
title = "One"
cue = "Ticks 90/min"
seconds = 16
tempo = 90
intensity = 3
sides = 2
[[zones]]
id = "b"
title = "Two"
cue = "Ticks 60/min"
seconds = 14
tempo = 60
intensity = 2
sides = 1
[[zones]]
id = "c"
title = "Three"
cue = "Ticks 120/min"
seconds = 20
tempo = 120
intensity = 5
sides = 2
[[zones]]
id = "d"
title = "Four"
cue = "Breathe"
seconds = 10
tempo = 0
intensity = 1
sides = 1
"""


# --- pure helpers ------------------------------------------------------------------------


def planned_cues(zones, session_start: float) -> list[tuple[str, float]]:
    """Each zone start and stroke tick the routine plans, as (pattern, simulated second).
    `zones` are (seconds, tempo) pairs."""
    planned, zone_start = [], session_start
    for seconds, tempo in zones:
        planned.append(("zone_start", zone_start))
        if tempo:
            period = 60 / tempo
            planned += [("tick", zone_start + n * period) for n in range(1, int(seconds / period) + 1)
                        if zone_start + n * period < zone_start + seconds - 1e-9]
        zone_start += seconds
    return planned


def cue_errors_ms(trace: list[dict], zones) -> list[float]:
    """Milliseconds each planned cue was played late (or early) in a trace; a tick that fell on a
    switch-side cue is dropped by design (the cue matters more), so a cue with no match within
    0.2 s is left out."""
    start = next(e["t"] for e in trace if e["event"] == "session_start")
    played: dict[str, list[float]] = {"zone_start": [], "tick": []}
    for event in trace:
        if event["event"] == "haptic" and event["pattern"] in played:
            played[event["pattern"]].append(event["t"])
    errors = []
    for pattern, at in planned_cues(zones, start):
        nearest = min(played[pattern], key=lambda t: abs(t - at), default=None)
        if nearest is not None and abs(nearest - at) < 0.2:
            errors.append((nearest - at) * 1000)
    return errors


def twin_row(name: str, unlimited: float | None, quota: float | None, unit: str, target: str, meets,
             detail: str = "") -> dict:
    """One figure for the unlimited twin and the quota, with their ratio; judged on the quota's
    figure (the Pi's), or on the unlimited one when there is no quota."""
    def show(value):
        return "-" if value is None else (f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}")
    value = f"{show(unlimited)} | {show(quota)}"
    if unlimited and quota is not None:
        value += f" (x{quota / unlimited:.1f})"
    judged = quota if quota is not None else unlimited
    return {"name": f"Pi budget: {name}", "value": value + (f"; {detail}" if detail else ""),
            "target": target, "ok": judged is not None and bool(meets(judged))}


# --- the runs ----------------------------------------------------------------------------

@dataclass
class Place:
    """Where a device process runs: in the quota on one core, or unlimited (the twin, on the
    other cores: the quota's core is the Pi's, not shared with the twin or the computer's side)."""

    label: str
    quota: CpuQuota | None = None
    cpu: int | None = None
    others: set[int] | None = None     # the twin's cores (None: any)
    # The sync (`facepace sync-serve`, facepace-sync.service) is a process of its own: on the Pi
    # it runs on another of the four cores, so here in a quota of its own on another core.
    sync_quota: CpuQuota | None = None
    sync_cpu: int | None = None

    def popen(self, argv, **options) -> subprocess.Popen:
        hook = self.quota.preexec(self.cpu) if self.quota else self._on_others()
        return subprocess.Popen(argv, preexec_fn=hook, cwd=REPO, **options)

    def popen_sync(self, folder: Path, port: str) -> subprocess.Popen:
        """`facepace sync-serve` as facepace-sync.service runs it: at nice 10 (below the firmware,
        whichever place; a flood keeps it busy), and in its own quota on its own core here."""
        quota_hook = self.sync_quota.preexec(self.sync_cpu) if self.sync_quota else self._on_others()

        def hook() -> None:
            os.nice(SYNC_NICE)
            if quota_hook is not None:
                quota_hook()
        return subprocess.Popen([sys.executable, "-m", "device", "sync-serve", "--port", port],
                                preexec_fn=hook, cwd=REPO, env=device_env(folder),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


    def _on_others(self):
        return None if self.others is None else (lambda: os.sched_setaffinity(0, self.others))


def device_env(folder: Path, **extra) -> dict:
    """The firmware's and `sync-serve`'s environment: one state folder, and one runtime folder
    where each finds the other's end of the channel (on the device, each unit has its own)."""
    from device.sync.channel import FIRMWARE_SOCKET_NAME, SYNC_SOCKET_NAME

    run = folder / "run"
    run.mkdir(exist_ok=True)
    return dict(os.environ, PYTHONPATH=str(REPO), FACEPACE_STATE_DIR=str(folder / "state"),
                RUNTIME_DIRECTORY=str(run), FACEPACE_FIRMWARE_SOCKET=str(run / FIRMWARE_SOCKET_NAME),
                FACEPACE_SYNC_SOCKET=str(run / SYNC_SOCKET_NAME), **extra)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def startup_to_first_frame(place: Place) -> float:
    """`facepace sim --headless` from exec to its first frame on disk."""
    with tempfile.TemporaryDirectory(prefix="facepace-pi-") as name:
        folder = Path(name)
        first = folder / "frames" / "000001.png"
        started = time.perf_counter()
        process = place.popen([sys.executable, "-m", "device", "sim", "--headless", "--speed", "max",
                               "--frames", str(folder / "frames")], env=device_env(folder),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not first.exists() and process.poll() is None and time.perf_counter() - started < GUARD_SECONDS:
                time.sleep(0.001)
            return time.perf_counter() - started
        finally:
            stop(process)


class HostSyncs:
    """The computer: syncs the device's whole log, as a new computer each time, until stopped
    (`keep_going`: a failed sync is tried again, as a person would) or once; `seconds` holds the
    time of each sync done, `failed` counts those that failed and `error` says why the last did."""

    def __init__(self, host_port: str, folder: Path, *, keep_going: bool) -> None:
        self.host_port, self.folder, self.keep_going = host_port, folder, keep_going
        self.seconds: list[float] = []
        self.failed = 0
        self.error: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-syncs", daemon=True)

    def start(self) -> "HostSyncs":
        self._thread.start()
        return self

    def _run(self) -> None:
        from companion import sync_client as host
        from companion.hostdb import HostDb

        port = host.open_device(self.host_port)
        try:
            # The device process's start-up is not the sync: wait until it answers.
            host.Link(port, timeout=GUARD_SECONDS).request(
                host.p.HELLO, host.p.WELCOME, protocol=host.p.PROTOCOL_VERSION, host_id="pi-budget-warm-up")
            while not self._stopping.is_set():
                path = self.folder / f"host-{len(self.seconds) + self.failed}.db"
                try:
                    with HostDb.open(path) as db:
                        started = time.perf_counter()
                        host.sync(port, db)
                        self.seconds.append(time.perf_counter() - started)
                except Exception as error:
                    if self._stopping.is_set():
                        break    # the device stopped at the end of the run, mid-sync
                    self.failed += 1
                    self.error = f"{type(error).__name__}: {error}"
                    self._stopping.wait(0.5)    # not a tight loop if the device has gone
                path.unlink(missing_ok=True)
                if not self.keep_going:
                    break
        except Exception as error:   # no answer to the warm-up: the device never came up
            if not self._stopping.is_set():
                self.failed, self.error = self.failed + 1, f"{type(error).__name__}: {error}"
        finally:
            port.close()

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)

    def stop(self) -> None:
        """No more syncs; a sync cut short by the device stopping from now on is no error."""
        self._stopping.set()


class HostileHost:
    """A hostile computer on the sync port: `python -m bench.sync_bench --hostile-host`, a process
    of its own (nice 19, outside the quota, as the computer is not the Pi's CPU) with the pty link,
    floods it with garbage and valid-looking bad frames (`bench.sync_bench.hostile_burst`) as fast
    as `sync-serve` reads, a second at a time, from `start()` to `stop()`; `sent` counts bytes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bench.sync_bench", "--hostile-host"], cwd=REPO,
                                        env=dict(os.environ, PYTHONPATH=str(REPO)), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.device_port = self.process.stdout.readline().strip()
        self.sent = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-host", daemon=True)

    def start(self) -> "HostileHost":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.process.stdin.write("1\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
            if not answer:
                break
            self.sent += int(answer)

    def close(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(GUARD_SECONDS)
        stop(self.process)


def sync_port(stack: ExitStack, flood: bool) -> tuple[str, HostileHost | None, str | None]:
    """(the device's end of the sync port, the hostile host on it if `flood`, the computer's end)."""
    from tests.support.sync_testing import PtyLink

    if flood:
        hostile = stack.enter_context(closing(HostileHost()))
        return hostile.device_port, hostile, None
    link = stack.enter_context(PtyLink())
    return link.device_port, None, link.host_port


def firmware_run(place: Place, seeded: Path, *, presses: int, sync: str, first_press: str = "ready") -> dict:
    """`facepace run` in its place: time to READY, the finger's press latencies, and with
    `sync` = "during" syncs over and over meanwhile, "once" one sync timed with the device idle,
    or "flood" a hostile computer flooding `sync-serve`'s port all along."""
    with tempfile.TemporaryDirectory(prefix="facepace-pi-") as name, ExitStack() as stack:
        device_port, hostile, host_port = sync_port(stack, sync == "flood")
        folder = Path(name)
        shutil.copytree(seeded, folder / "state")
        notify = folder / "notify"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(notify))
        listener.settimeout(GUARD_SECONDS)
        first_frame_file = folder / "first-frame"
        argv = [sys.executable, "-m", "bench.pi_device", "firmware", "--presses", str(presses),
                "--first-press", first_press, "--first-frame-file", str(first_frame_file)] \
            + (["--count-channel"] if hostile else [])
        started_mono = time.monotonic()   # the device writes its first frame's time on this clock
        started = time.perf_counter()
        process = place.popen(argv, env=device_env(folder, NOTIFY_SOCKET=str(notify)),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        syncer = place.popen_sync(folder, device_port) if sync else None
        host = None
        try:
            if hostile:
                hostile.start()
            if sync == "during":
                host = HostSyncs(host_port, folder, keep_going=True).start()
            while b"READY=1" not in listener.recv(4096):
                pass
            ready = time.perf_counter() - started
            first_frame = float(first_frame_file.read_text()) - started_mono
            if sync == "once":
                host = HostSyncs(host_port, folder, keep_going=False).start()
                host.wait(SYNC_GUARD_SECONDS)
            report = json.loads(process.stdout.readline() or '{"presses_ms": []}')
            flooded = flood_outcome(hostile, report)
        finally:
            if host is not None:
                host.stop()
            stop(process)
            if syncer is not None:
                stop(syncer)
            if host is not None:
                host.wait(GUARD_SECONDS)
            listener.close()
    return {"ready": ready, "first_frame": first_frame, "presses_ms": report["presses_ms"], **sync_outcome(host),
            **flooded}


def sync_serve_run(place: Place, seeded: Path) -> dict:
    """One first sync of the whole log from `facepace sync-serve` in its place: the sync alone, in
    a process of its own (as the firmware's sync would be in one of its own)."""
    from tests.support.sync_testing import PtyLink

    with tempfile.TemporaryDirectory(prefix="facepace-pi-") as name, PtyLink() as link:
        folder = Path(name)
        shutil.copytree(seeded, folder / "state")
        process = place.popen([sys.executable, "-m", "device", "sync-serve", "--port", link.device_port],
                              env=device_env(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host = HostSyncs(link.host_port, folder, keep_going=False).start()
        try:
            host.wait(SYNC_GUARD_SECONDS)
        finally:
            host.stop()
            stop(process)
            host.wait(GUARD_SECONDS)
    return sync_outcome(host)


def pacing_run(place: Place, seeded: Path, *, sync: bool, flood: bool = False,
               press_after: float = PRESS_AFTER) -> dict:
    """The 60 s routine at speed 1 in its place, pressed `press_after` seconds after the loop first
    runs, with whole-log syncs back to back if `sync`, or a hostile computer flooding `sync-serve`'s
    port all along if `flood`."""
    from device.settings.routines import load_routine
    from device.sim.trace import read_trace

    with tempfile.TemporaryDirectory(prefix="facepace-pi-") as name, ExitStack() as stack:
        device_port, hostile, host_port = sync_port(stack, flood)
        folder = Path(name)
        shutil.copytree(seeded, folder / "state")
        routine_file = folder / "pibudget.toml"
        routine_file.write_text(textwrap.dedent(PACING_ROUTINE))
        argv = [sys.executable, "-m", "bench.pi_device", "pacing", "--routine", str(routine_file),
                "--trace", str(folder / "trace.jsonl"), "--press-after", str(press_after)] \
            + (["--count-channel"] if hostile else [])
        process = place.popen(argv, env=device_env(folder), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        syncer = place.popen_sync(folder, device_port) if sync or hostile else None
        host, flooded = None, {}
        try:
            process.stdout.readline()    # "ready"
            if hostile:
                hostile.start()
            if sync:
                host = HostSyncs(host_port, folder, keep_going=True).start()
            process.wait(GUARD_SECONDS)
            if hostile:
                flooded = flood_outcome(hostile, json.loads(process.stdout.readline() or "{}"))
        finally:
            if host is not None:
                host.stop()
            stop(process)
            if syncer is not None:
                stop(syncer)
            if host is not None:
                host.wait(GUARD_SECONDS)
        routine = load_routine(routine_file)
        zones = [(zone.seconds, zone.tempo) for zone in routine.active_zones]
        errors = cue_errors_ms(read_trace(folder / "trace.jsonl"), zones)
    return {"errors_ms": errors, **sync_outcome(host), **flooded}


def flood_outcome(hostile: HostileHost | None, report: dict) -> dict:
    """What the flood sent, and the messages the firmware was woken for over the channel."""
    if hostile is None:
        return {}
    return {"flood_bytes": hostile.sent, "channel_messages": report.get("channel_messages")}


def sync_outcome(host: HostSyncs | None) -> dict:
    if host is None:
        return {"syncs": [], "sync_failures": 0, "sync_error": None}
    return {"syncs": host.seconds, "sync_failures": host.failed, "sync_error": host.error}


def compile_code() -> int:
    """Bytecode for every module, as systemd/install.sh leaves it on the device: a start-up here
    must not be spent compiling (with PYTHONDONTWRITEBYTECODE set, every start would be)."""
    import compileall

    folders = [REPO / name for name in ("device", "drivers", "companion", "bench", "tests/support")]
    return sum(compileall.compile_dir(folder, quiet=1) for folder in folders)


def seed_log(folder: Path) -> Path:
    """A state folder whose log holds SESSIONS finished sessions (copied for every run)."""
    from bench.sync_bench import fast_connect
    from device.log.sessionlog import SessionLog
    from tests.support.sync_testing import record_sessions

    state = folder / "seed"
    # Recorded in earlier boots, as a long history is: the firmware's sync fixes the dates of
    # this boot's sessions when the computer sets the clock, and 10,000 of them in one boot
    # (minutes of CPU today) is not what a device meets.
    earlier_boot = folder / "boot_id"
    earlier_boot.write_text("pi-budget-earlier-boot\n")
    with SessionLog.open(state / "sessions.db", clock_synced=lambda: True, connect=fast_connect,
                         boot_id_path=earlier_boot) as log:
        # Twice a day up to today, every day kept: the longest streak, for the goal to read back.
        record_sessions(log, SESSIONS, first_wall=time.time() - SESSIONS * 43_200)
    return state


# --- the table ---------------------------------------------------------------------------

def places() -> tuple[list[Place], str | None]:
    """The unlimited twin and, when this machine allows, the quota (on the last core; the twin
    on the others, where the computer's side runs too: see `keep_off`)."""
    cpus = sorted(os.sched_getaffinity(0))
    twin = Place("unlimited")
    try:
        quota = CpuQuota.create(f"facepace-pi-budget-{os.getpid()}", QUOTA_US, PERIOD_US)
        sync_quota = CpuQuota.create(f"facepace-pi-budget-sync-{os.getpid()}", QUOTA_US, PERIOD_US)
    except (QuotaUnavailable, OSError) as error:
        return [twin], str(error)
    if len(cpus) > 1:
        twin.others = set(cpus[:-1])
    return [twin, Place("quota", quota, cpu=cpus[-1], sync_quota=sync_quota, sync_cpu=cpus[-2 % len(cpus)])], None


def keep_off(where: list[Place]) -> set[int]:
    """This process (the computer's side: syncs, pty bridges) onto the twin's cores, off the
    quota's: on the Pi nothing else shares the device's core. Returns the cores it had."""
    had = os.sched_getaffinity(0)
    if where[0].others:
        os.sched_setaffinity(0, where[0].others)
    return had


def side_by_side(where: list[Place], measure) -> list:
    """`measure(place)` for the twin and the quota at the same time."""
    with ThreadPoolExecutor(len(where)) as pool:
        return list(pool.map(measure, where))


def pair(results: list, pick):
    values = [pick(result) for result in results]
    return values[0], (values[1] if len(values) > 1 else None)


def run(groups=GROUPS) -> list[dict]:
    where, unavailable = places()
    quota = where[-1].quota if len(where) > 1 else None
    rows = []
    if unavailable:
        rows.append({"name": "Pi budget: CPU quota", "value": f"not available ({unavailable}); unlimited only",
                     "target": "info", "ok": True})
    else:
        granted = quota.limit()
        rows.append({"name": "Pi budget: CPU quota", "value": f"cgroup v{quota.version} {granted[0]} us per "
                     f"{granted[1]} us on core {where[-1].cpu}, sync-serve in one of its own on core "
                     f"{where[-1].sync_cpu}; the twin and the computer's side on the other cores",
                     "target": "info", "ok": granted == (QUOTA_US, PERIOD_US)})
    rows.append({"name": "Pi budget: bytecode", "value": "compiled before the runs, as install.sh does",
                 "target": "info", "ok": bool(compile_code())})
    had = keep_off(where)
    try:
        with tempfile.TemporaryDirectory(prefix="facepace-pi-seed-") as name:
            seeded = seed_log(Path(name))
            rows += measure_all(where, seeded, groups)
    finally:
        os.sched_setaffinity(0, had)
        if quota is not None:
            throttled = quota.stat()
            rows.append({"name": "Pi budget: quota throttled", "value": f"{throttled.get('nr_throttled', 0)} of "
                         f"{throttled.get('nr_periods', 0)} periods, {throttled.get('throttled_usec', 0) / 1e6:.1f} s",
                         "target": "info", "ok": True})
            quota.close()
            where[-1].sync_quota.close()
        # A quota is a ceiling, not a reservation: on a busy machine both columns get worse.
        rows.append({"name": "Pi budget: machine load (1-minute average) at the end",
                     "value": f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", "target": "info", "ok": True})
    return rows


def measure_all(where: list[Place], seeded: Path, groups=GROUPS) -> list[dict]:
    rows = []
    if "startup" in groups:
        startup = [statistics.median(startup_to_first_frame(place) for _ in range(STARTUP_RUNS)) for place in where]
        rows.append(twin_row("start-up to first frame (sim), median", *pair(startup, lambda s: s), "s", "< 2.5 s",
                             lambda s: s < 2.5))
    if "firmware" in groups:
        rows += firmware_rows(where, seeded, sync_once="sync" in groups)
    elif "sync" in groups:
        rows += sync_rows(side_by_side(where, lambda place: firmware_run(place, seeded, presses=0, sync="once")))
    if "sync" in groups:
        alone = side_by_side(where, lambda place: sync_serve_run(place, seeded))
        rows.append(twin_row(f"{SESSIONS // 1000}k-session sync, `sync-serve` alone in its process",
                             *pair(alone, lambda r: r["syncs"][0] if r["syncs"] else None), "s", "< 8 s",
                             lambda s: s < 8, detail=f"'-': not done in {SYNC_GUARD_SECONDS} s" + sync_note(alone)))
    if "pacing" in groups:
        for sync in (False, True):
            runs = side_by_side(where, lambda place: pacing_run(place, seeded, sync=sync))
            rows.append(twin_row("pacing p99, 60 s routine" + (f", {SESSIONS // 1000}k syncs running" if sync else ""),
                                 *pair(runs, lambda r: percentile(r["errors_ms"], .99)), "ms", "p99 < 5 ms",
                                 lambda ms: ms < 5, detail=max_note(runs) + (sync_note(runs) if sync else "")))
        runs = side_by_side(where, lambda place: pacing_run(place, seeded, sync=False, press_after=AT_ONCE))
        rows.append(twin_row(f"pacing p99, 60 s routine pressed {AT_ONCE} s after start (the log's first read under way)",
                             *pair(runs, lambda r: percentile(r["errors_ms"], .99)), "ms", "p99 < 5 ms",
                             lambda ms: ms < 5, detail=max_note(runs)))
    if "flood" in groups:
        rows += flood_rows(where, seeded)
    return rows


def firmware_rows(where: list[Place], seeded: Path, *, sync_once: bool) -> list[dict]:
    rows = []
    idle = side_by_side(where, lambda place: firmware_run(place, seeded, presses=PRESSES, sync=""))
    syncing = side_by_side(where, lambda place: firmware_run(place, seeded, presses=PRESSES, sync="during"))
    early = side_by_side(where, lambda place: firmware_run(place, seeded, presses=1, sync="", first_press="loop"))
    once = side_by_side(where, lambda place: firmware_run(place, seeded, presses=0, sync="once")) if sync_once else []
    ready = [statistics.median(run["ready"] for run in runs) for runs in zip(idle, syncing, early, *([once] if once else []))]
    first = [statistics.median(run["first_frame"] for run in runs)
             for runs in zip(idle, syncing, early, *([once] if once else []))]
    rows.append(twin_row(f"`facepace run` path to its first frame on the panel, median of {3 + bool(once)}",
                         *pair(first, lambda s: s), "s", "< 2.5 s", lambda s: s < 2.5))
    rows.append(twin_row(f"`facepace run` path to READY (the loop serves, the frame shown), median of {3 + bool(once)}",
                         *pair(ready, lambda s: s), "s", "soon after the first frame", lambda s: True))
    with tempfile.TemporaryDirectory(prefix="facepace-pi-empty-") as empty:
        fresh = side_by_side(where, lambda place: firmware_run(place, Path(empty), presses=1, sync=""))
    rows.append(twin_row("`facepace run` path to its first frame, empty log (what 10k sessions cost)",
                         *pair(fresh, lambda r: r["first_frame"]), "s", "< 2.5 s", lambda s: s < 2.5,
                         detail="READY " + " | ".join(f"{r['ready']:.2f} s" for r in fresh)))
    rows.append(twin_row("first press on the loop's first pass (no frame yet) -> click",
                         *pair(early, lambda r: r["presses_ms"][0]), "ms", "< 50 ms", lambda ms: ms < 50))
    rows.append(twin_row("first press after READY -> click", *pair(idle, lambda r: r["presses_ms"][0]), "ms",
                         "< 50 ms", lambda ms: ms < 50))
    rows.append(twin_row(f"press -> click p99 ({PRESSES - 1} presses)",
                         *pair(idle, lambda r: percentile(r["presses_ms"][1:], .99)), "ms", "p99 < 10 ms",
                         lambda ms: ms < 10))
    rows.append(twin_row(f"press -> click p99 ({PRESSES - 1} presses), {SESSIONS // 1000}k sync running",
                         *pair(syncing, lambda r: percentile(r["presses_ms"][1:], .99)), "ms", "p99 < 10 ms",
                         lambda ms: ms < 10, detail=slow_note(syncing) + sync_note(syncing)))
    return rows + (sync_rows(once) if once else [])


def sync_rows(once: list[dict]) -> list[dict]:
    sync_seconds = pair(once, lambda r: r["syncs"][0] if r["syncs"] else None)
    return [twin_row(f"{SESSIONS // 1000}k-session sync, device idle", *sync_seconds, "s", "< 8 s",
                     lambda s: s < 8, detail=f"'-': not done in {SYNC_GUARD_SECONDS} s" + sync_note(once))]


def flood_rows(where: list[Place], seeded: Path) -> list[dict]:
    """Press -> click and pacing while a hostile computer floods `sync-serve`'s port (`HostileHost`)."""
    presses = side_by_side(where, lambda place: firmware_run(place, seeded, presses=PRESSES, sync="flood"))
    pacing = side_by_side(where, lambda place: pacing_run(place, seeded, sync=False, flood=True))
    return [
        twin_row(f"press -> click p99 ({PRESSES - 1} presses), frame flood on the sync port",
                 *pair(presses, lambda r: percentile(r["presses_ms"][1:], .99)), "ms", "p99 < 10 ms",
                 lambda ms: ms < 10, detail=slow_note(presses) + flood_note(presses)),
        twin_row("pacing p99, 60 s routine, frame flood on the sync port",
                 *pair(pacing, lambda r: percentile(r["errors_ms"], .99)), "ms", "p99 < 5 ms",
                 lambda ms: ms < 5, detail=max_note(pacing) + flood_note(pacing)),
    ]


def max_note(runs: list[dict]) -> str:
    return "max " + " | ".join(f"{max(r['errors_ms']):.1f}" for r in runs) + " ms"


def slow_note(runs: list[dict]) -> str:
    return ">= 5 ms: " + " | ".join(str(sum(ms >= 5 for ms in r["presses_ms"][1:])) for r in runs)


def flood_note(runs: list[dict]) -> str:
    """How much the hostile computer sent, and how often the firmware was woken for the sync."""
    sent = " | ".join(f"{r['flood_bytes'] / 2**20:.0f}" for r in runs)
    told = " | ".join(str(r["channel_messages"]) for r in runs)
    return f"; flood sent {sent} MiB, the firmware told {told} sync messages"


def sync_note(runs: list[dict]) -> str:
    done = " | ".join(str(len(run["syncs"])) for run in runs)
    failed = " | ".join(str(run["sync_failures"]) for run in runs)
    errors = [run["sync_error"] for run in runs if run["sync_error"]]
    return f"; syncs done {done}, failed {failed}" + (f" ({errors[-1][:60]})" if errors else "")


if __name__ == "__main__":
    chosen = tuple(sys.argv[1:]) or GROUPS
    if set(chosen) - set(GROUPS):
        sys.exit(f"groups are {', '.join(GROUPS)}")
    for item in run(chosen):
        print(f"{item['name']:<60} {item['value']:<50} {item['target']:<12} {'ok' if item['ok'] else 'MISSED'}")
