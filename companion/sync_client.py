"""The computer side of a sync: find the device, pull what is new, store it, acknowledge it.

    with HostDb.open(path) as db:
        result = sync(open_device(port), db, progress=bar)
    print(result.summary())

Every request is safe to repeat (PULL after the same cursor gives the same batch, ACK
of the same seq changes nothing), so a reply lost to noise is simply asked for again.
Requests carry an id, and replies to older requests are dropped.

The device is untrusted: every field it sends is checked before anything is stored
(`protocol.decode_welcome`/`decode_batch`); a batch with one wrong field is refused
whole, not acknowledged, and the sync stops with a message naming the device, the
session and the field.
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
from device.base.errors import FacepaceError
from device.base.output_safety import for_terminal
from device.sync import protocol as p
from device.sync.frames import FrameDecoder, Problem
from companion.hostdb import HostDb

PRODUCT_NAME = "facepace"
BATCH_SESSIONS = 250


class SyncError(FacepaceError):
    """The sync could not finish; the message says why and what to try."""


class DeviceRefused(SyncError):
    """The device answered a request with ERROR; `code` is the protocol's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SyncResult:
    device_id: str
    new: int = 0
    already_had: int = 0
    dates_fixed: int = 0
    estimated: int = 0
    clock_refused: str | None = None   # the device did not take this computer's time: why

    def summary(self) -> str:
        text = f"{self.new} new, {self.already_had} already had, device {self.device_id}"
        if self.estimated:
            text += f" ({self.estimated} with estimated dates)"
        if self.clock_refused:
            text += f"\nThe device did not take this computer's time: {for_terminal(self.clock_refused)}"
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
                    said = str(reply.body.get("message", reply.body.get("code")))[:200]
                    raise DeviceRefused(f"the device refused {p.NAMES[message_type]}: {for_terminal(said)}",
                                        str(reply.body.get("code"))[:40])
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
         utc: Callable[[], float] = time.time,
         then: Callable[[Link, p.Welcome], None] | None = None) -> SyncResult:
    """`then(link, welcome)`: one more step once the sessions are stored, before BYE (the time zone)."""
    link = Link(port, timeout=timeout)
    who = f"the device on {getattr(port, 'port', None) or 'the serial port'}"
    try:
        welcome = hello(link, db.host_id)
        who = f"device {welcome.device_id}"
        result = SyncResult(welcome.device_id)
        clock_set = link.request(p.SET_CLOCK, p.CLOCK_SET, utc=utc())
        result.dates_fixed, result.estimated, result.clock_refused = p.decode_clock_set(clock_set)
        _pull(link, db, welcome, result, progress)
        if then is not None:
            then(link, welcome)
    except p.ProtocolError as error:
        raise SyncError(f"{who}: {error}") from None
    db.note_device(welcome.device_id, welcome.firmware, utc())
    link.request(p.BYE, p.BYE)
    return result


def hello(link: Link, host_id: str) -> p.Welcome:
    """HELLO in this computer's protocol; a device that speaks an older one this computer
    still reads (`p.READ_ONLY_VERSIONS`) is greeted again in its own, to be synced read-only."""
    greeting = dict(host_id=host_id, host_name=socket.gethostname()[:64], software=__version__)
    try:
        return p.decode_welcome(link.request(p.HELLO, p.WELCOME, protocol=p.PROTOCOL_VERSION, **greeting))
    except DeviceRefused as refused:
        if refused.code != p.E_VERSION:
            raise
        for version in p.READ_ONLY_VERSIONS:
            try:
                return p.decode_welcome(link.request(p.HELLO, p.WELCOME, protocol=version, **greeting))
            except DeviceRefused as older:
                if older.code != p.E_VERSION:
                    raise
        raise


def _pull(link: Link, db: HostDb, welcome: p.Welcome, result: SyncResult,
          progress: Callable[[int, int], None] | None) -> None:
    """PULL, store, ACK until the device has nothing more up to WELCOME's `last_seq`."""
    cursor = db.cursor(welcome.device_id, welcome.log_id)
    if cursor > welcome.last_seq:
        # No seq that high in this log: another device that gave this one's ids moved the
        # cursor. Start again; sessions are kept by id, so nothing is stored twice.
        cursor = 0
    done, total = 0, None
    while cursor < welcome.last_seq:
        body = link.request(p.PULL, p.BATCH, after=cursor, limit=BATCH_SESSIONS)
        try:
            batch = p.decode_batch(body, after=cursor, device_id=welcome.device_id,
                                   announced=welcome.last_seq)
        except p.ProtocolError as error:
            raise p.ProtocolError(error.code, f"{error}; the batch was refused, nothing of it stored") \
                from None
        if total is None:
            total = len(batch.sessions) + batch.remaining
        if not batch.sessions:
            break
        new, had = db.store_batch(welcome.device_id, welcome.log_id, batch.sessions, batch.last_seq)
        # Only now, with the batch safely committed, may the device count it as delivered.
        link.request(p.ACK, p.ACKED, seq=batch.last_seq)
        result.new += new
        result.already_had += had
        cursor, done = batch.last_seq, done + len(batch.sessions)
        if progress is not None:
            progress(done, max(done, total))
    if progress is not None and done and done < total:
        progress(done, done)   # the rest finished during this sync: the next sync takes them


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
