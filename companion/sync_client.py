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
import queue
import socket
import sys
import threading
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
BATCH_SESSIONS = p.MAX_BATCH_SESSIONS   # a batch is cut at about 60 KiB first
COMMIT_EVERY = 1.0      # seconds: batches stored and acknowledged together (one fsync each side)
MAX_UNCOMMITTED = 32    # batches held uncommitted at most (about 2 MiB of JSON's sessions)


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


@dataclass
class Request:
    """A request sent and not yet answered."""

    type: int
    rid: int
    frame: bytes
    deadline: float
    sent: float


class Link:
    """Requests and replies over a serial port, with re-sends and a deadline.

    `request` sends and waits. `send` and `wait` let a caller keep a second request in flight
    (the next PULL while a batch is stored, an ACK while that PULL is answered): the device
    answers in order, one at a time, and a reply to a request in flight that arrives while
    another is awaited is kept for it (at most one per request)."""

    def __init__(self, port: serial.SerialBase, *, timeout: float = 5.0, resend_after: float = 0.5) -> None:
        self.port = port
        self.timeout = timeout
        self.resend_after = min(resend_after, timeout / 3)
        self._decoder = FrameDecoder()
        self._rids = itertools.count(int(time.time()) % 100_000 * 1000)
        self._in_flight: dict[int, Request] = {}
        self._answered: dict[int, p.Message] = {}
        self.resends = 0

    def request(self, message_type: int, expect: int, **body) -> dict:
        return self.wait(self.send(message_type, **body), expect)

    def send(self, message_type: int, **body) -> Request:
        rid = next(self._rids)
        frame = p.pack(message_type, rid=rid, **body)
        self._write(frame)
        now = time.monotonic()
        self._in_flight[rid] = request = Request(message_type, rid, frame, now + self.timeout, now)
        return request

    def wait(self, request: Request, expect: int) -> dict:
        """The body of `request`'s reply, of type `expect`; `SyncError` if none comes in time."""
        try:
            reply = self._reply_to(request)
        finally:
            self._in_flight.pop(request.rid, None)
            self._answered.pop(request.rid, None)
        if reply.type == p.ERROR:
            if request.type == p.BYE and reply.body.get("code") == p.E_NO_HELLO:
                return {}    # our first BYE arrived; only its answer was lost
            said = str(reply.body.get("message", reply.body.get("code")))[:200]
            raise DeviceRefused(f"the device refused {p.NAMES[request.type]}: {for_terminal(said)}",
                                str(reply.body.get("code"))[:40])
        if reply.type != expect:
            raise SyncError(f"the device answered {reply.name} to {p.NAMES[request.type]}")
        return reply.body

    def _reply_to(self, request: Request) -> p.Message:
        while request.rid not in self._answered:
            self._read()
            if request.rid in self._answered:
                break
            now = time.monotonic()
            if now >= request.deadline:
                raise SyncError(f"no answer from the device within {self.timeout:g} s"
                                f" ({p.NAMES[request.type]}): check the cable and try again")
            if now - request.sent >= self.resend_after:
                self._resend(request)
        return self._answered[request.rid]

    def _read(self) -> None:
        """Read what has arrived (waiting briefly for it) and keep the replies to requests in flight."""
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
                # The device could not read a frame (maybe one of ours): re-send them now, in order.
                for waiting in list(self._in_flight.values()):
                    self._resend(waiting)
                continue
            if reply.rid in self._in_flight:
                self._answered[reply.rid] = reply
            # else: the answer to a request we already gave up on

    def _resend(self, request: Request) -> None:
        self._write(request.frame)
        request.sent, self.resends = time.monotonic(), self.resends + 1

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
    """PULL, check, store, ACK until the device has nothing more up to WELCOME's `last_seq`.

    Three things at once: the next PULL goes out as soon as a batch arrives, so the device
    reads it while this computer checks the batch; checked batches are stored on a thread of
    their own (`_Storer`), about a second of them per transaction. Each commit is
    acknowledged, so the device only ever hears of what is committed here; before stopping
    on a refused batch (or a broken link) the batches checked before it are committed."""
    cursor = db.cursor(welcome.device_id, welcome.log_id)
    if cursor > welcome.last_seq:
        # No seq that high in this log: another device that gave this one's ids moved the
        # cursor. Start again; sessions are kept by id, so nothing is stored twice.
        cursor = 0
    done, total, acked = 0, None, cursor
    storer = _Storer(db, welcome.device_id, welcome.log_id)

    def acknowledge() -> None:
        nonlocal acked
        committed = storer.committed
        if committed is not None and committed > acked:
            link.request(p.ACK, p.ACKED, seq=committed)
            acked = committed

    try:
        pull = link.send(p.PULL, after=cursor, limit=BATCH_SESSIONS) if cursor < welcome.last_seq else None
        while pull is not None:
            body = link.wait(pull, p.BATCH)
            # The next PULL goes out before this batch is checked: the device reads it meanwhile. Its
            # `after` is only a number in our own request; if the batch is refused, so is its answer.
            claimed = body.get("last_seq")
            early = type(claimed) is int and cursor < claimed < welcome.last_seq
            pull = link.send(p.PULL, after=claimed, limit=BATCH_SESSIONS) if early else None
            try:
                batch = p.decode_batch(body, after=cursor, device_id=welcome.device_id,
                                       announced=welcome.last_seq)
            except p.ProtocolError as error:
                storer.finish()     # the batches before it are whole and checked: keep them
                acknowledge()
                raise p.ProtocolError(error.code, f"{error}; the batch was refused, nothing of it stored") \
                    from None
            if total is None:
                total = len(batch.sessions) + batch.remaining
            if not batch.sessions:
                break
            cursor, done = batch.last_seq, done + len(batch.sessions)
            if claimed != cursor:
                pull = None      # never so once checked (a batch ends at its last_seq), but never trusted
            if pull is None and cursor < welcome.last_seq:
                pull = link.send(p.PULL, after=cursor, limit=BATCH_SESSIONS)
            storer.put(batch.sessions, batch.last_seq)
            acknowledge()
            if progress is not None:
                progress(done, max(done, total))
    finally:
        storer.finish()     # commits what was checked, also when the link broke
        result.new, result.already_had = storer.new, storer.had
    acknowledge()
    if progress is not None and done and done < total:
        progress(done, done)   # the rest finished during this sync: the next sync takes them


class _Storer:
    """Stores checked batches on a thread of its own: SQLite works without the interpreter's
    lock, so storing one batch overlaps receiving and checking the next. The batches that come
    within `COMMIT_EVERY` seconds (at most `MAX_UNCOMMITTED`, which also bounds what waits) go
    in one transaction with the cursor of the last (`HostDb.store_batches`); `committed` is
    that cursor once it is on disk."""

    def __init__(self, db: HostDb, device_id: str, log_id: str) -> None:
        self._db, self._device_id, self._log_id = db, device_id, log_id
        self._waiting: queue.Queue = queue.Queue(maxsize=MAX_UNCOMMITTED)
        self.committed: int | None = None
        self.new = self.had = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="facepace-sync-store", daemon=True)
        self._thread.start()

    def put(self, sessions: list, last_seq: int) -> None:
        if self._error is not None:
            raise self._error
        self._waiting.put((sessions, last_seq))

    def finish(self) -> None:
        """Store what waits, then stop; raises what storing raised. Safe to call twice."""
        if self._thread.is_alive():
            self._waiting.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        ending = False
        while not ending:
            group = [self._waiting.get()]
            if group[0] is None:
                return
            until = time.monotonic() + COMMIT_EVERY
            while len(group) < MAX_UNCOMMITTED:
                try:
                    item = self._waiting.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    ending = True
                    break
                group.append(item)
            if self._error is not None:
                continue    # a failed store: take the rest without storing it, so put() never blocks
            try:
                new, had = self._db.store_batches(self._device_id, self._log_id, group)
            except Exception as error:   # given to the sync's thread
                self._error = error
                continue
            self.new, self.had = self.new + new, self.had + had
            self.committed = group[-1][1]


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
