"""Sync: 10,000 and 100,000 sessions over a pty pair, first sync and a sync with nothing new.

The device side is `facepace sync-serve` in its own process, as on the device; the host
side is `companion.sync_client.sync` timed in this process (a fresh `facepace sync` process
adds Python's start-up, about 0.2 s, which is not the protocol's cost).
Also: the fault drill at a larger count than `make test` runs, and a hostile host that
floods the device's port (`flood`, run in its own process by the pacing bench in
`bench.device_bench` and by the long fuzz drill here).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import log_bench
from companion import sync_client as host
from device.sync import protocol as p
from device.sync.frames import MAX_PAYLOAD, encode
from companion.hostdb import HostDb
from device.log import logdb
from tests.support.sync_testing import PtyLink

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 10_000


def fast_connect(path: Path):
    """For filling a bench log only (device_bench, sync_isolation, pi_budget): no fsync per
    session, or set-up takes a minute."""
    connection = logdb.connect(path)
    connection.execute("PRAGMA synchronous = OFF")
    return connection


def timed_syncs(sessions: int = SESSIONS) -> tuple[float, float, int]:
    """(first sync's seconds, a second sync's seconds, sessions the first stored), on a copy of
    the log the host-command bench built (`log_bench.bench_log`)."""
    folder = Path(tempfile.mkdtemp(prefix="facepace-sync-bench-"))
    try:
        (folder / "state").mkdir()
        shutil.copyfile(log_bench.bench_log(sessions) / "sessions.db", folder / "state" / "sessions.db")
        with PtyLink() as link:
            device = subprocess.Popen(
                [sys.executable, "-m", "device", "sync-serve", "--port", link.device_port],
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
    link = host.Link(port, timeout=60)   # the server checks a 100,000-session log first
    link.request(host.p.HELLO, host.p.WELCOME, protocol=host.p.PROTOCOL_VERSION, host_id="bench-warm-up")


def fault_drill(syncs: int = 150) -> tuple[bool, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/device/sync/test_sync_faults.py"], cwd=REPO, capture_output=True,
                            env=dict(os.environ, FACEPACE_FAULT_SYNCS=str(syncs)))
    return result.returncode == 0, time.perf_counter() - started


def hostile_burst(rng: random.Random) -> bytes:
    """One burst of what a hostile host might send: noise, magic-dense garbage, fake headers,
    truncated frames, frames damaged in one bit, and valid frames with hostile or costly payloads."""
    kind = rng.randrange(9)
    if kind == 0:
        return rng.randbytes(rng.randint(1, 4096))
    if kind == 1:   # every second byte a candidate header: the decoder's worst case
        return b"\xfa\xce" * rng.randint(1, 2048)
    if kind == 2:   # a believable header announcing a long payload that never comes
        head = encode(rng.randrange(256), bytes(rng.choice([4096, MAX_PAYLOAD])))[:11]
        return head + rng.randbytes(rng.randint(0, 200))
    if kind == 3:   # a frame cut short
        frame = p.pack(p.HELLO, rid=rng.randint(0, 9), protocol=p.PROTOCOL_VERSION, host_id="x" * 64)
        return frame[:rng.randrange(len(frame))]
    if kind == 4:   # a parser attack in a valid frame
        return encode(p.HELLO, b"[" * rng.choice([100, 4000, MAX_PAYLOAD]))
    if kind == 5:   # a new host every time: an acknowledgement row each, if unbounded
        host_id = f"flood-{rng.getrandbits(48):x}"
        return (p.pack(p.HELLO, rid=1, protocol=p.PROTOCOL_VERSION, host_id=host_id)
                + p.pack(p.PULL, rid=2, after=0, limit=rng.choice([1, 500]))
                + p.pack(p.ACK, rid=3, seq=1))
    if kind == 6:
        return p.pack(p.SET_CLOCK, rid=4, utc=rng.uniform(p.MIN_UTC, p.MAX_UTC))
    if kind == 7:   # a whole request with one bit flipped in its payload: checked header, bad CRC
        frame = bytearray(p.pack(p.PULL, rid=5, after=rng.randrange(100), limit=500))
        frame[rng.randrange(11, len(frame) - 4)] ^= 1 << rng.randrange(8)
        return bytes(frame)
    return encode(rng.randrange(256), rng.randbytes(rng.randint(0, 64)))


def flood(port_name: str, seconds: float, *, seed: int = 0) -> int:
    """Send hostile bursts to the device's port for `seconds` as fast as it takes them, reading
    (and dropping) its replies on another thread so that it never blocks on writing; returns
    the bytes sent."""
    import serial

    rng, sent = random.Random(seed), 0
    with serial.Serial(port_name, timeout=0.05, write_timeout=0.5) as port:
        done = threading.Event()

        def drain() -> None:
            while not done.is_set():
                port.read(65536)

        reader = threading.Thread(target=drain)
        reader.start()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                try:
                    sent += port.write(hostile_burst(rng))
                except serial.SerialTimeoutException:
                    pass   # the device reads slower than we write: that is its right
        finally:
            done.set()
            reader.join()
    return sent


def hostile_host_drill(examples: int = 800) -> tuple[bool, float]:
    """The suite's fuzzer of the device (hostile byte streams, then an honest HELLO), longer."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/device/sync/test_sync_e2e.py", "-k", "hostile_byte_streams"], cwd=REPO,
                            capture_output=True,
                            env=dict(os.environ, FACEPACE_SYNC_FUZZ_EXAMPLES=str(examples)))
    return result.returncode == 0, time.perf_counter() - started


# A first sync at two sizes: it must grow with the log, not with its square.
SIZES = (SESSIONS, 100_000)
LARGE_TARGET = 30.0      # seconds for the larger
LINEAR_RATIO = 15.0      # 10x the sessions: linear is 10x, the square of the log 100x


def run() -> list[dict]:
    (first, again, count), (large, _, large_count) = (timed_syncs(size) for size in SIZES)
    ratio = large / first
    drill_ok, drill_seconds = fault_drill()
    fuzz_ok, fuzz_seconds = hostile_host_drill()
    return [
        {"name": f"sync: first, {SESSIONS:,} sessions over pty", "value": f"{first:.2f} s",
         "target": "< 5 s", "ok": first < 5 and count == SESSIONS},
        {"name": f"sync: first, {SIZES[-1]:,} sessions over pty", "value": f"{large:.2f} s",
         "target": f"< {LARGE_TARGET:g} s", "ok": large < LARGE_TARGET and large_count == SIZES[-1]},
        {"name": f"sync: first, time {SIZES[-1]:,} / {SESSIONS:,} sessions", "value": f"{ratio:.1f}x",
         "target": f"<= {LINEAR_RATIO:g}x", "ok": ratio <= LINEAR_RATIO},
        {"name": "sync: nothing new", "value": f"{again * 1000:.0f} ms", "target": "< 200 ms",
         "ok": again < 0.2},
        {"name": "sync: fault drill, 150 broken syncs", "value": f"{'exact' if drill_ok else 'MISMATCH'}"
         f" ({drill_seconds:.0f} s)", "target": "exact", "ok": drill_ok},
        {"name": "sync: hostile host drill, 800 streams", "value": f"{'answered' if fuzz_ok else 'STALLED'}"
         f" ({fuzz_seconds:.0f} s)", "target": "answered", "ok": fuzz_ok},
    ]


def serve_hostile_host() -> None:
    """`python -m bench.sync_bench --hostile-host`: a pty link whose far end floods on request.

    Prints the device's port; then for each line `SECONDS` on stdin floods for that long and
    prints the bytes sent. The link's bridge runs in this process, not in the one measured
    (on the device the USB gadget is the kernel's, not a Python thread next to the loop).
    """
    os.nice(19)   # the attacker's CPU is not the device's: keep ours for the process measured
    with PtyLink() as link:
        print(link.device_port, flush=True)
        for line in sys.stdin:
            print(flood(link.host_port, float(line)), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--hostile-host"]:
        serve_hostile_host()
        sys.exit(0)
    for row in run():
        print(f"{row['name']:<40} {row['value']:<16} {row['target']:<10} {'ok' if row['ok'] else 'MISSED'}")
