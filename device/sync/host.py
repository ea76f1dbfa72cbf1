"""The computer side of a sync: find the device, pull what is new, store it, acknowledge it.

    with HostDb.open(path) as db:
        result = sync(open_device(port), db, progress=bar)
    print(result.summary())

Every request is safe to repeat (PULL after the same cursor gives the same batch, ACK
of the same seq changes nothing), so a reply lost to noise is simply asked for again.
Requests carry an id, and replies to older requests are dropped.
"""

from __future__ import annotations

import itertools
import socket
import sys
import time
from dataclasses import dataclass
from typing import Callable

import serial
from serial.tools import list_ports

from device import __version__
from device.errors import FacepaceError
from device.sync import protocol as p
from device.sync.frames import FrameDecoder, Problem
from device.sync.hostdb import BadSession, HostDb

PRODUCT_NAME = "facepace"
BATCH_SESSIONS = 250


class SyncError(FacepaceError):
    """The sync could not finish; the message says why and what to try."""


@dataclass
class SyncResult:
    device_id: str
    new: int = 0
    already_had: int = 0
    dates_fixed: int = 0
    estimated: int = 0

    def summary(self) -> str:
        text = f"{self.new} new, {self.already_had} already had, device {self.device_id}"
        if self.estimated:
            text += f" ({self.estimated} with estimated dates)"
        return text


def find_port(product: str = PRODUCT_NAME) -> str:
    """The serial port whose USB product name is `product` (the device's gadget)."""
    found = [info.device for info in list_ports.comports() if (info.product or "") == product]
    if not found:
        raise SyncError(f"no {product} device found: plug it in with a data USB cable,"
                        " or give the port with --port")
    if len(found) > 1:
        raise SyncError(f"several {product} devices found ({', '.join(found)}): choose one with --port")
    return found[0]


def open_device(port: str, *, timeout: float = 5.0) -> serial.SerialBase:
    try:
        link = serial.Serial(port, baudrate=115200, timeout=0.05, write_timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as error:
        raise SyncError(f"cannot open {port}: {error}") from None
    link.reset_input_buffer()   # bytes left from an earlier, cut sync
    return link


class Link:
    """Request/reply over a serial port, with re-sends and a deadline."""

    def __init__(self, port: serial.SerialBase, *, timeout: float = 5.0, resend_after: float = 0.5) -> None:
        self.port = port
        self.timeout = timeout
        self.resend_after = min(resend_after, timeout / 3)
        self._decoder = FrameDecoder()
        self._rids = itertools.count(int(time.time()) % 100_000 * 1000)
        self.resends = 0

    def request(self, message_type: int, expect: int, **body) -> dict:
        rid = next(self._rids)
        frame = p.pack(message_type, rid=rid, **body)
        deadline = time.monotonic() + self.timeout
        self._write(frame)
        sent = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise SyncError(f"no answer from the device within {self.timeout:g} s"
                                f" ({p.NAMES[message_type]}): check the cable and try again")
            if now - sent >= self.resend_after:
                self._write(frame)
                sent, self.resends = now, self.resends + 1
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError) as error:
                raise SyncError(f"the link to the device broke: {error}") from None
            for item in self._decoder.feed(data):
                if isinstance(item, Problem):
                    continue     # a damaged reply: the re-send will fetch it again
                try:
                    reply = p.unpack(item)
                except p.ProtocolError:
                    continue
                if reply.type == p.ERROR and reply.rid is None \
                        and reply.body.get("code") in (p.E_BAD_CRC, p.E_TOO_LARGE):
                    # The device could not read a frame (maybe this request): re-send now.
                    self._write(frame)
                    sent, self.resends = time.monotonic(), self.resends + 1
                    continue
                if reply.rid != rid:
                    continue     # the answer to a request we already gave up on
                if reply.type == p.ERROR:
                    if message_type == p.BYE and reply.body.get("code") == p.E_NO_HELLO:
                        return {}    # our first BYE arrived; only its answer was lost
                    raise SyncError(f"the device refused {p.NAMES[message_type]}:"
                                    f" {reply.body.get('message', reply.body.get('code'))}")
                if reply.type != expect:
                    raise SyncError(f"the device answered {reply.name} to {p.NAMES[message_type]}")
                return reply.body

    def _write(self, frame: bytes) -> None:
        try:
            self.port.write(frame)
        except (serial.SerialException, OSError) as error:
            raise SyncError(f"cannot write to the device: {error}") from None


def sync(port: serial.SerialBase, db: HostDb, *, timeout: float = 5.0,
         progress: Callable[[int, int], None] | None = None,
         utc: Callable[[], float] = time.time) -> SyncResult:
    link = Link(port, timeout=timeout)
    welcome = link.request(p.HELLO, p.WELCOME, protocol=p.PROTOCOL_VERSION, host_id=db.host_id,
                           host_name=socket.gethostname()[:64], software=__version__)
    if welcome.get("protocol") != p.PROTOCOL_VERSION:
        raise SyncError(f"the device speaks sync protocol {welcome.get('protocol')}, this computer"
                        f" {p.PROTOCOL_VERSION}: update facepace on the older one")
    device_id = p.text(welcome, "device_id", 64)
    log_id = p.text(welcome, "log_id", 64)
    result = SyncResult(device_id)
    clock = link.request(p.SET_CLOCK, p.CLOCK_SET, utc=utc())
    result.dates_fixed, result.estimated = clock.get("fixed", 0), clock.get("estimated", 0)
    cursor = db.cursor(device_id, log_id)
    done, total = 0, None
    while True:
        batch = link.request(p.PULL, p.BATCH, after=cursor, limit=BATCH_SESSIONS)
        sessions = batch.get("sessions")
        if not isinstance(sessions, list):
            raise SyncError("the device sent a batch without sessions")
        if total is None:
            total = len(sessions) + p.integer(batch, "remaining", 0, 2**62)
        if not sessions:
            break
        last_seq = p.integer(batch, "last_seq", cursor + 1, 2**62)
        try:
            new, had = db.store_batch(device_id, log_id, batch.get("fields") or [], sessions, last_seq)
        except BadSession as error:
            raise SyncError(f"the device sent a session this version cannot store: {error}") from None
        # Only now, with the batch safely committed, may the device count it as delivered.
        link.request(p.ACK, p.ACKED, seq=last_seq)
        result.new += new
        result.already_had += had
        cursor, done = last_seq, done + len(sessions)
        if progress is not None:
            progress(done, total)
    db.note_device(device_id, str(welcome.get("firmware", ""))[:40], utc())
    link.request(p.BYE, p.BYE)
    return result


def progress_bar(stream=sys.stderr, width: int = 30) -> Callable[[int, int], None]:
    """A one-line bar redrawn in place; silent when the output is not a terminal."""
    def draw(done: int, total: int) -> None:
        if not stream.isatty() or total <= 0:
            return
        filled = width * done // total
        stream.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()
    return draw
