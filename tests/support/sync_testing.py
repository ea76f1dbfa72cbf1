"""A serial link in a box, for tests and benchmarks: two pseudo-terminals and a bridge;
and a scripted device that answers the host with whatever payloads a test chooses.

    with PtyLink(seed=7) as link:
        link.device_port, link.host_port    # paths for pyserial on each end
        link.faults = Faults(cut_after=5000, flip_every=2000, noise_every=3000)

Each end is a real tty that pyserial opens as it would /dev/ttyGS0 or /dev/ttyACM0.
The bridge thread copies bytes between the two pty masters and can damage them the way
a USB cable being pulled, or a noisy link, would: stop forwarding after some bytes,
flip bits, and add noise between or inside frames.

    with PtyLink() as link, ScriptedDevice(link.device_port, welcome={...}, batches=[...]) as device:
        host.sync(host.open_device(link.host_port), db)
    device.acks         # the seqs the host acknowledged, in order
"""

from __future__ import annotations

import json
import os
import random
import select
import threading
import tty
from dataclasses import dataclass

import serial

from device.sync import protocol as p
from device.sync.frames import Frame, FrameDecoder, encode

ZONES = [("oil", 30.0), ("neck", 60.0), ("jawline", 75.0), ("cheeks", 90.0),
         ("under_eye", 45.0), ("brows", 60.0), ("forehead", 90.0), ("collarbone", 60.0)]


def record_sessions(log, count: int, *, first_wall: float = 1_717_000_000.0, seed: int = 0) -> None:
    """`count` finished sessions of varied outcomes, as the app would record them."""
    from device.log.logdb import ZoneProgress

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
                ready, can_write, _ = select.select(readable, writable, [], 0.01)   # also how soon close() ends it
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


class ScriptedDevice:
    """A fake device on a serial port: well-framed replies whose payloads the test gives.

    WELCOME gets `welcome`, CLOCK_SET `clock_set`, the n-th PULL the n-th of `batches`
    (then an empty batch), ACK and BYE their honest answers; a request type in `refuse`
    gets an ERROR with that payload instead. Payloads go out as they are
    (NaN included), each with the request's `rid`, so they reach the host's checks. A
    request the host re-sends gets the same answer again.
    """

    def __init__(self, port: str, *, welcome: dict, batches: list[dict] = (),
                 clock_set: dict | None = None, refuse: dict[int, dict] | None = None) -> None:
        self.welcome = welcome
        self.refuse = refuse or {}
        self.batches = list(batches)
        self.clock_set = {"fixed": 0, "estimated": 0, "offset": 0.0} if clock_set is None else clock_set
        self.pulls = 0
        self.acks: list = []
        self._answers: dict = {}
        self._port = serial.Serial(port, baudrate=115200, timeout=0.01)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-device", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if not self._stopping.is_set():
            self._stopping.set()
            self._thread.join(timeout=5)
            self._port.close()

    def __enter__(self) -> "ScriptedDevice":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        decoder = FrameDecoder()
        while not self._stopping.is_set():
            for item in decoder.feed(self._port.read(max(1, self._port.in_waiting))):
                if isinstance(item, Frame):
                    request = json.loads(item.payload)
                    key = (item.type, request.get("rid"))
                    if key not in self._answers:
                        self._answers[key] = self._answer(item.type, request)
                    self._port.write(self._answers[key])

    def _answer(self, kind: int, request: dict) -> bytes:
        if kind in self.refuse:
            return self._frame(p.ERROR, request, self.refuse[kind])
        if kind == p.HELLO:
            return self._frame(p.WELCOME, request, self.welcome)
        if kind == p.SET_CLOCK:
            return self._frame(p.CLOCK_SET, request, self.clock_set)
        if kind == p.PULL:
            self.pulls += 1
            after = request.get("after")
            empty = {"after": after, "last_seq": after, "remaining": 0,
                     "fields": list(p.SESSION_FIELDS), "sessions": []}
            batch = self.batches[self.pulls - 1] if self.pulls <= len(self.batches) else empty
            return self._frame(p.BATCH, request, batch)
        if kind == p.ACK:
            self.acks.append(request.get("seq"))
            return self._frame(p.ACKED, request, {"seq": request.get("seq"), "recorded": True})
        return self._frame(p.BYE, request, {})

    @staticmethod
    def _frame(kind: int, request: dict, payload: dict) -> bytes:
        return encode(kind, json.dumps({**payload, "rid": request.get("rid")}).encode())
