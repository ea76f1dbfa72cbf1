"""A serial link in a box, for tests and benchmarks: two pseudo-terminals and a bridge.

    with PtyLink(seed=7) as link:
        link.device_port, link.host_port    # paths for pyserial on each end
        link.faults = Faults(cut_after=5000, flip_every=2000, noise_every=3000)

Each end is a real tty that pyserial opens as it would /dev/ttyGS0 or /dev/ttyACM0.
The bridge thread copies bytes between the two pty masters and can damage them the way
a USB cable being pulled, or a noisy link, would: stop forwarding after some bytes,
flip bits, and add noise between or inside frames.
"""

from __future__ import annotations

import os
import random
import select
import threading
import tty
from dataclasses import dataclass

ZONES = [("oil", 30.0), ("neck", 60.0), ("jawline", 75.0), ("cheeks", 90.0),
         ("under_eye", 45.0), ("brows", 60.0), ("forehead", 90.0), ("collarbone", 60.0)]


def record_sessions(log, count: int, *, first_wall: float = 1_717_000_000.0, seed: int = 0) -> None:
    """`count` finished sessions of varied outcomes, as the app would record them."""
    from device.logdb import ZoneProgress

    rng = random.Random(seed)
    for index in range(count):
        start = first_wall + index * 43_200 + rng.random()
        mono_start = 1000.0 + index * 43_200
        sid = log.begin("daily", "sha256:test", rng.randint(1, 5), ZONES,
                        mono_start=mono_start, wall_start=start)
        done = [(zone, planned, planned if rng.random() < 0.8 else rng.random() * planned,
                 rng.random() < 0.1) for zone, planned in ZONES]
        zones = [ZoneProgress(z, planned, 0.0 if skipped else seconds, skipped)
                 for z, planned, seconds, skipped in done]
        outcome = "completed" if rng.random() < 0.8 else "ended_early"
        log.finish(sid, outcome, zones, active_seconds=sum(z.done_seconds for z in zones),
                   wall_end=start + 600, mono_end=mono_start + 600)


@dataclass
class Faults:
    cut_after: int | None = None    # bytes forwarded (both ways) before the cable is "pulled"
    flip_every: int | None = None   # on average, one flipped bit per this many bytes
    noise_every: int | None = None  # on average, a burst of 1-16 random bytes per this many bytes


class PtyLink:
    def __init__(self, *, seed: int = 0) -> None:
        self.faults = Faults()
        self.forwarded = 0
        self._random = random.Random(seed)
        self._device_master, self._device_slave = os.openpty()
        self._host_master, self._host_slave = os.openpty()
        for fd in (self._device_slave, self._host_slave):
            tty.setraw(fd)   # no echo or line editing before pyserial opens the port
        self.device_port = os.ttyname(self._device_slave)
        self.host_port = os.ttyname(self._host_slave)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-bridge", daemon=True)
        self._thread.start()

    def set_faults(self, faults: Faults) -> None:
        """New faults from now on (and the cable plugged back in)."""
        self.faults, self.forwarded = faults, 0

    def close(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._thread.join(timeout=2)
        for fd in (self._device_master, self._device_slave, self._host_master, self._host_slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "PtyLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        # Each direction has its own queue and the masters never block: a bridge that waited
        # to write one way while the other way filled up would deadlock both ends (a USB
        # cable's two directions are independent).
        other = {self._device_master: self._host_master, self._host_master: self._device_master}
        pending = {fd: bytearray() for fd in other}   # bytes waiting to be written to fd
        for fd in other:
            os.set_blocking(fd, False)
        while not self._stopping.is_set():
            try:
                # Read a side only while the other side's queue is short: back-pressure, as a cable has.
                readable = [fd for fd in other if len(pending[other[fd]]) < 65536]
                writable = [fd for fd in other if pending[fd]]
                ready, can_write, _ = select.select(readable, writable, [], 0.05)
                for fd in ready:
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    pending[other[fd]] += self._damage(data)
                for fd in can_write:
                    try:
                        del pending[fd][:os.write(fd, pending[fd])]
                    except BlockingIOError:
                        pass
            except OSError:
                if self._stopping.is_set():
                    return
                raise

    def _damage(self, data: bytes) -> bytes:
        faults, rng = self.faults, self._random
        if faults.cut_after is not None:
            room = max(0, faults.cut_after - self.forwarded)
            data = data[:room]
        self.forwarded += len(data)
        if not data or (faults.flip_every is None and faults.noise_every is None):
            return data
        damaged = bytearray(data)
        if faults.flip_every and rng.random() < len(data) / faults.flip_every:
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        if faults.noise_every and rng.random() < len(data) / faults.noise_every:
            at = rng.randrange(len(damaged) + 1)
            damaged[at:at] = rng.randbytes(rng.randint(1, 16))
        return bytes(damaged)
