"""The device side: a thread that serves the sync protocol on a serial port.

    server = SyncServer("/dev/ttyGS0", session_log, wall_clock=clock,
                        on_status=lambda status: screen.show_line(status.text))
    server.start()
    ...
    server.close()          # stops at once; safe to call twice

One connection at a time, one request at a time, and only the requests of
`device.sync.protocol`: no shell, no files, nothing but the log and the clock. The port
may be missing (cable out, gadget not set up) or vanish mid-sync; the thread waits and
opens it again. Nothing the other end sends can raise out of the thread or hold it: bad
frames get an ERROR reply, a frame that does not arrive whole within `frame_timeout` is
dropped, a silent host is dropped after `idle_timeout`, a host that stops reading is
dropped after `write_timeout`. Statuses (`on_status`) are told at most one per `STATUS_GAP`,
the newest, so a host that syncs over and over cannot keep the firmware busy with them.

It never works for long at a stretch: it reads at most `READ_CHUNK` bytes a turn,
requests are at most `MAX_REQUEST` bytes, and after every turn that had work (and between
the pieces of a batch) it rests `rest_ratio` times as long as the work took. Beside the
pacing loop, in its process (`BESIDE_THE_LOOP`), that is as long as the work: the thread
holds the interpreter's lock while it works, so resting lets the loop have it and a flood
gets half a core at most. In a process of its own (`facepace sync-serve`,
`OWN_PROCESS`) the kernel already puts the loop first (the unit's lower CPU weight and
nice), so the rests are short: they only keep a flood from taking a whole core.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import Callable

import serial

from device import __version__
from device.log.sessionlog import SessionLog
from device.sync import protocol as p
from device.sync.channel import SyncStatus
from device.log.clockfix import HostWallClock
from device.sync.frames import Frame, FrameDecoder, Problem, encode
from device.sync.ownerdesk import OwnerDesk
from device.sync.source import LogUnavailable, SyncSource

logger = logging.getLogger(__name__)

MAX_REQUEST = 24 * 1024   # bytes of payload: a 16 KiB routine in base64 and its envelope; others are under 300
READ_CHUNK = 512      # bytes read (and decoded) in one turn
MIN_REST = 0.0005     # seconds of work a rest is counted for, at least
# Rest per second of work (see the module's docstring): in the firmware's own process, and
# in a process of its own, where a flood gets at most 80% of a core and a sync a quarter more time.
BESIDE_THE_LOOP = 1.0
OWN_PROCESS = 0.25
CLOCK_LOG_EVERY = 60.0   # seconds between journal lines about a host's time
# Seconds between statuses told (`on_status`: the screen; from sync-serve, a datagram that wakes
# the firmware, whose app re-reads its log's overview after each "Synced"): the newest waits its
# turn, the ones it replaced are never told. A host that floods HELLO, PULL, ACK, BYE costs the firmware one
# status a second; a real sync's screen moves as often (the computer acknowledges each second).
STATUS_GAP = 1.0


class _Conversation:
    """State of one host's sync, from HELLO to BYE (or silence)."""

    def __init__(self, source: SyncSource, host_id: str) -> None:
        self.source = source
        self.host_id = host_id
        self.total: int | None = None   # sessions to send, counted at the first PULL
        self.acked = 0                  # sessions the host confirmed in this sync
        self.first_after: int | None = None
        self.offered_seq = 0            # highest seq sent: an ACK above it is refused


class SyncServer:
    def __init__(self, port: str, log: SessionLog, *, wall_clock: HostWallClock | None = None,
                 on_status: Callable[[SyncStatus], None] | None = None,
                 firmware: str = __version__, idle_timeout: float = 10.0,
                 write_timeout: float = 5.0, reopen_delay: float = 1.0, frame_timeout: float = 1.0,
                 open_port: Callable[..., serial.SerialBase] = serial.Serial,
                 monotonic: Callable[[], float] = time.monotonic, owner: OwnerDesk | None = None,
                 rest_ratio: float = BESIDE_THE_LOOP) -> None:
        self.port = port
        self.log = log
        self.wall_clock = wall_clock
        self.owner = owner    # protocol 3's settings and routines; None: this device takes no changes
        self.on_status = on_status
        self.firmware = firmware
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.reopen_delay = reopen_delay
        self.frame_timeout = frame_timeout
        self.rest_ratio = rest_ratio
        self._open_port = open_port
        self._monotonic = monotonic
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._conversation: _Conversation | None = None
        self._work_started = 0.0    # thread CPU time at the end of the last rest
        self._clock_logged_at = -math.inf
        self._waiting_status: SyncStatus | None = None   # the newest status, not told yet
        self._status_told_at = -math.inf                 # on `monotonic`
        # Set while the port is open. Read by tests and drills only (to wait for the port before
        # they write to it): a seam, kept public for them.
        self.serving = threading.Event()
        self.decoder: FrameDecoder | None = None   # the open port's reader (what it holds, skipped)
        self.syncs = 0     # completed syncs (BYE), for tests and the journal

    # --- Lifetime -----------------------------------------------------------------------

    def start(self) -> "SyncServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="facepace-sync", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
            if not thread.is_alive():   # the last status waits for no gap now (a "Synced n")
                self._status_told_at = -math.inf
                self._tell_status()

    stop = close

    def __enter__(self) -> "SyncServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self) -> None:
        """Serve until `close()`; also usable in the foreground (`facepace sync-serve`)."""
        announced_missing = False
        while not self._stopping.is_set():
            self._tell_status()   # the last one of a sync whose cable was pulled, say
            try:
                link = self._open_port(self.port, baudrate=115200, timeout=0.05,
                                       write_timeout=self.write_timeout, exclusive=True)
            except (serial.SerialException, OSError, ValueError) as error:
                if not announced_missing:
                    logger.info("sync port %s not available (%s); waiting for it", self.port, error)
                    announced_missing = True
                self._stopping.wait(self.reopen_delay)
                continue
            announced_missing = False
            logger.info("serving sync on %s", self.port)
            self.serving.set()
            try:
                self._serve(link)
            except (serial.SerialException, OSError) as error:
                logger.info("sync port %s went away (%s)", self.port, error)
            except Exception:  # never let the device's sync thread die
                logger.exception("sync server error; reopening %s", self.port)
            finally:
                self.serving.clear()
                self._end_conversation(None)
                try:
                    link.close()
                except Exception:
                    pass
            self._stopping.wait(self.reopen_delay)

    # --- One open port ------------------------------------------------------------------

    def _serve(self, link) -> None:
        self.decoder = decoder = FrameDecoder(max_payload=MAX_REQUEST, frame_timeout=self.frame_timeout)
        last_request = self._monotonic()
        while not self._stopping.is_set():
            data = link.read(min(READ_CHUNK, max(1, link.in_waiting)))
            self._work_started = time.thread_time()
            now = self._monotonic()
            # Fed on every turn, data or not: a partial frame's deadline passes on a quiet link too.
            for item in decoder.feed(data, now=now):
                reply = self._answer(item)
                last_request = now
                if reply is not None:
                    link.write(reply)
            if self.owner is not None:
                self.owner.tick()
            if self._conversation is not None and now - last_request > self.idle_timeout:
                logger.info("sync host silent for %.0f s; waiting for a new one", self.idle_timeout)
                self._end_conversation(SyncStatus("failed", message="Sync timed out"))
            self._tell_status()
            if data:
                self._rest()

    def _rest(self) -> None:
        """Wait `rest_ratio` times as long as the work since the last rest took (CPU seconds of
        this thread): a real wait, so the pacing loop gets the interpreter lock if it is waiting
        for it (beside the loop), or the core goes idle (in a process of its own)."""
        worked = time.thread_time() - self._work_started
        self._stopping.wait(self.rest_ratio * max(MIN_REST, worked))
        self._work_started = time.thread_time()

    def _answer(self, item: Frame | Problem) -> bytes | None:
        if isinstance(item, Problem):
            return p.pack(p.ERROR, rid=None, code=item.kind,
                          message="frame damaged in transit" if item.kind == p.E_BAD_CRC
                          else "frame over the 64 KiB limit")
        rid = None
        try:
            message = p.unpack(item, accepted=p.HOST_REQUESTS)
            rid = p.request_id(message.body)
            return self._dispatch(message, rid)
        except p.ProtocolError as error:
            return p.pack(p.ERROR, rid=rid, code=error.code, message=str(error))
        except LogUnavailable as error:
            return p.pack(p.ERROR, rid=rid, code=p.E_LOG, message=str(error))
        except Exception:
            logger.exception("sync request failed")
            return p.pack(p.ERROR, rid=rid, code=p.E_INTERNAL, message="device error; try again")

    def _dispatch(self, message: p.Message, rid: int) -> bytes:
        body = message.body
        if message.type == p.HELLO:
            return self._hello(body, rid)
        talk = self._conversation
        if talk is None:
            raise p.ProtocolError(p.E_NO_HELLO, f"{message.name} before HELLO")
        if message.type == p.SET_CLOCK:
            answer = talk.source.set_clock(p.number(body, "utc", p.MIN_UTC, p.MAX_UTC))
            now = self._monotonic()
            if now - self._clock_logged_at >= CLOCK_LOG_EVERY:   # a flood must not flood the journal
                self._clock_logged_at = now
                if answer.refused:
                    logger.warning("host's time refused: %s", answer.refused)
                else:
                    logger.info("clock set by host (correction %+.1f s); %d dates fixed, %d estimated",
                                answer.offset, answer.fixed, answer.estimated)
            extra = {"refused": answer.refused} if answer.refused else {}
            return p.pack(p.CLOCK_SET, rid=rid, fixed=answer.fixed, estimated=answer.estimated,
                          offset=answer.offset, **extra)
        if message.type in p.OWNER_REQUESTS:
            if self.owner is None:
                raise p.ProtocolError(p.E_NO_OWNER, "this device cannot take settings or routines now")
            return self.owner.answer(message, rid)
        if message.type == p.PULL:
            return self._pull(talk, body, rid)
        if message.type == p.ACK:
            seq = p.integer(body, "seq", 0, talk.offered_seq)
            recorded = talk.source.acknowledge(talk.host_id, seq)
            if talk.first_after is not None:
                talk.acked = talk.source.count_after(talk.first_after) - talk.source.count_after(seq)
            self._status(SyncStatus("syncing", talk.acked, talk.total or 0))
            return p.pack(p.ACKED, rid=rid, seq=seq, recorded=recorded)
        # BYE
        self.syncs += 1
        self._end_conversation(SyncStatus("synced", talk.acked, talk.total or 0))
        return p.pack(p.BYE, rid=rid)

    def _hello(self, body: dict, rid: int) -> bytes:
        version = p.integer(body, "protocol", 0, 2**31)
        if version != p.PROTOCOL_VERSION:
            newer = "this computer" if version < p.PROTOCOL_VERSION else "the device"
            raise p.ProtocolError(p.E_VERSION, f"the device speaks sync protocol {p.PROTOCOL_VERSION},"
                                               f" the computer {version}: update facepace on {newer}")
        host_id = p.text(body, "host_id", 64)
        self._end_conversation(None)  # a new HELLO starts over (the last host went away)
        source = SyncSource(self.log, wall_clock=self.wall_clock, monotonic=self._monotonic)
        self._conversation = _Conversation(source, host_id)
        return p.pack(p.WELCOME, rid=rid, protocol=p.PROTOCOL_VERSION, device_id=source.device_id,
                      log_id=source.log_id, firmware=self.firmware, boot_id=self.log.boot_id,
                      device_time=source.now(), clock_trusted=source.clock_trusted(),
                      acked_seq=source.acknowledged(host_id), last_seq=source.last_seq())

    def _pull(self, talk: _Conversation, body: dict, rid: int) -> bytes:
        after = p.integer(body, "after", 0, 2**62)
        limit = p.integer(body, "limit", 1, p.MAX_BATCH_SESSIONS)
        if talk.first_after is None:
            talk.first_after = after
            talk.total = talk.source.count_after(after)
            self._status(SyncStatus("syncing", 0, talk.total))
        sessions, last_seq = talk.source.batch_after(after, max_sessions=limit,
                                                     max_bytes=p.MAX_BATCH_BYTES, rest=self._rest)
        talk.offered_seq = max(talk.offered_seq, last_seq)
        remaining = talk.source.count_after(last_seq)
        # Built by hand: the sessions are already JSON, encoding them twice would be waste.
        head = json.dumps({"rid": rid, "after": after, "last_seq": last_seq,
                             "remaining": remaining, "fields": list(p.SESSION_FIELDS)},
                            separators=(",", ":"))
        payload = head[:-1].encode() + b',"sessions":[' + b",".join(sessions) + b"]}"
        return encode(p.BATCH, payload)

    def _end_conversation(self, status: SyncStatus | None) -> None:
        talk, self._conversation = self._conversation, None
        if talk is not None:
            talk.source.close()
            if self.owner is not None:
                self.owner.hang_up()
        if status is not None:
            self._status(status)

    def _status(self, status: SyncStatus) -> None:
        self._waiting_status = status
        self._tell_status()

    def _tell_status(self) -> None:
        """The newest status, if STATUS_GAP has passed since the last was told (the serving loop
        turns at least every 50 ms, the reopening loop every `reopen_delay`)."""
        status, now = self._waiting_status, self._monotonic()
        if self.on_status is None or status is None or now - self._status_told_at < STATUS_GAP:
            return
        self._waiting_status, self._status_told_at = None, now
        try:
            self.on_status(status)
        except Exception:  # a screen problem must not stop the sync
            logger.exception("sync status callback failed")
