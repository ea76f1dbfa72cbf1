"""The channel between the firmware and the sync process: small JSON datagrams on unix sockets.

    channel = Channel(own=runtime_dir() / FIRMWARE_SOCKET_NAME, peer=sync_socket())
    channel.send(Hello())
    message = channel.receive(timeout=1.0)   # a Message, or None (nothing came, or junk)
    channel.close()                          # safe to call twice

Each side binds a socket in its own runtime folder (systemd removes a unit's
`RuntimeDirectory=` when that unit stops, so two units cannot share one) and sends to the
other's. Datagrams need no connection: either side may stop, crash or restart at any time,
and a message to a peer that is not there is simply not delivered. What must survive a
restart is repeated on `Hello`, which each side sends when it starts: the other answers
with what it knows (the host's clock offset, the sync in progress, whether a session is on).

The person's say on a change from the computer crosses it too: the sync process `Ask`s
(a question id and the prompt), the firmware's screen `Answer`s (the id and yes, no or
none) or the sync process `Withdraw`s it (the computer went away), and once a change is `Stored` the firmware reads the store again. The firmware tells
its `Busy` state (a session or its summary on) so the computer can be told `busy`.

Only the facepace user can reach the sockets (its runtime folders are 0750, the sockets
0600), but what arrives is still checked as if hostile: a datagram that is not exactly one
of the messages below is dropped with a log line, and nothing in it can raise out of
`receive`. The format (version 1) is documented in docs/architecture.md.
"""

from __future__ import annotations

import json
import logging
import math
import os
import select
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Union

from device.base.errors import FacepaceError

logger = logging.getLogger(__name__)

VERSION = 1
MAX_DATAGRAM = 2048          # bytes; the largest message is an ask, under 2000 even all escapes
MAX_TEXT = 200               # characters of a status's message
MAX_PROMPT = 160             # characters of a question's prompt: escaped, still under MAX_DATAGRAM
MAX_ID = 2**31               # question ids
MAX_COUNT = 2**31            # sessions in a status
MAX_OFFSET = 200 * 365.25 * 86400   # seconds: a clock correction beyond this is not a clock
JUNK_LOG_EVERY = 10.0        # seconds between journal lines about dropped datagrams
SEND_TIMEOUT = 0.25          # seconds a send may wait for a peer whose queue is full

FIRMWARE_SOCKET_NAME = "firmware.sock"   # in the firmware's runtime folder, /run/facepace
SYNC_SOCKET_NAME = "sync.sock"           # in the sync service's, /run/facepace-sync
SYNC_STATES = ("waiting", "syncing", "synced", "failed")
VERDICTS = ("yes", "no", "none")   # a press, a hold, nobody answered in time


def firmware_socket() -> Path:
    """Where the sync process finds the firmware: `$FACEPACE_FIRMWARE_SOCKET`, else systemd's."""
    return Path(os.environ.get("FACEPACE_FIRMWARE_SOCKET") or f"/run/facepace/{FIRMWARE_SOCKET_NAME}")


def sync_socket() -> Path:
    """Where the firmware finds the sync process: `$FACEPACE_SYNC_SOCKET`, else systemd's."""
    return Path(os.environ.get("FACEPACE_SYNC_SOCKET") or f"/run/facepace-sync/{SYNC_SOCKET_NAME}")


# --- Messages --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hello:
    """I have just started: tell me what you know."""

    type: ClassVar[str] = "hello"


@dataclass(frozen=True)
class Clock:
    """A host's clock correction: wall time = system time + `offset` seconds (this boot)."""

    offset: float
    type: ClassVar[str] = "clock"


@dataclass(frozen=True)
class SyncStatus:
    """The sync's progress, for the screen; `state` is waiting, syncing, synced or failed."""

    state: str
    sent: int = 0
    total: int = 0
    message: str = ""
    type: ClassVar[str] = "status"

    @property
    def text(self) -> str:
        if self.state == "syncing":
            return f"Syncing {self.sent}/{self.total}"
        if self.state == "synced":
            return f"Synced {self.sent}"
        if self.state == "failed":
            return self.message or "Sync failed"
        return ""


@dataclass(frozen=True)
class Ask:
    """Sync process → firmware: ask the person about a change (`question` numbers it)."""

    question: int
    prompt: str
    type: ClassVar[str] = "ask"


@dataclass(frozen=True)
class Answer:
    """Firmware → sync process: the person's `verdict` on question `question`."""

    question: int
    verdict: str
    type: ClassVar[str] = "answer"


@dataclass(frozen=True)
class Withdraw:
    """Sync process → firmware: question `question` is over without the person (the computer
    went away, or the desk's own deadline passed): off the screen."""

    question: int
    type: ClassVar[str] = "withdraw"


@dataclass(frozen=True)
class Stored:
    """Sync process → firmware: an accepted change is in the owner store; read it again."""

    type: ClassVar[str] = "stored"


@dataclass(frozen=True)
class Busy:
    """Firmware → sync process: a session (or its summary) is on, or not."""

    busy: bool
    type: ClassVar[str] = "busy"


Message = Union[Hello, Clock, SyncStatus, Ask, Answer, Withdraw, Stored, Busy]
MESSAGES = {kind.type: kind for kind in (Hello, Clock, SyncStatus, Ask, Answer, Withdraw, Stored, Busy)}


class ChannelError(FacepaceError, ValueError):
    """A datagram that is not one of the channel's messages (the text says why)."""


def encode(message: Message) -> bytes:
    return json.dumps({"v": VERSION, "type": message.type, **asdict(message)},
                      separators=(",", ":"), allow_nan=False).encode()


def decode(data: bytes) -> Message:
    """The message in `data`, or ChannelError: the fields must be exactly the message's own."""
    if len(data) > MAX_DATAGRAM:
        raise ChannelError(f"datagram of {len(data)} bytes, over {MAX_DATAGRAM}")
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ChannelError(f"not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ChannelError("not a JSON object")
    if body.get("v") != VERSION or isinstance(body.get("v"), bool):
        raise ChannelError(f"version {body.get('v')!r}, expected {VERSION}")
    kind = MESSAGES.get(body.get("type")) if isinstance(body.get("type"), str) else None
    if kind is None:
        raise ChannelError(f"unknown type {body.get('type')!r}")
    fields = {key: value for key, value in body.items() if key not in ("v", "type")}
    if kind is Clock:
        _expect_keys(fields, {"offset"})
        offset = fields["offset"]
        if not _is_number(offset) or not math.isfinite(offset) or abs(offset) > MAX_OFFSET:
            raise ChannelError(f"clock offset {offset!r} is not a number of seconds within ±{MAX_OFFSET:.0f}")
        return Clock(float(offset))
    if kind is SyncStatus:
        _expect_keys(fields, {"state", "sent", "total", "message"})
        if fields["state"] not in SYNC_STATES:
            raise ChannelError(f"status state {fields['state']!r}, expected one of {', '.join(SYNC_STATES)}")
        for key in ("sent", "total"):
            if not _is_number(fields[key]) or not isinstance(fields[key], int) or not 0 <= fields[key] <= MAX_COUNT:
                raise ChannelError(f"status {key} {fields[key]!r} is not a count of sessions")
        if not isinstance(fields["message"], str) or len(fields["message"]) > MAX_TEXT:
            raise ChannelError(f"status message is not a text of at most {MAX_TEXT} characters")
        return SyncStatus(fields["state"], fields["sent"], fields["total"], fields["message"])
    if kind is Ask:
        _expect_keys(fields, {"question", "prompt"})
        if not isinstance(fields["prompt"], str) or not 0 < len(fields["prompt"]) <= MAX_PROMPT:
            raise ChannelError(f"ask prompt is not a text of 1 to {MAX_PROMPT} characters")
        return Ask(_question_id(fields["question"]), fields["prompt"])
    if kind is Answer:
        _expect_keys(fields, {"question", "verdict"})
        if fields["verdict"] not in VERDICTS:
            raise ChannelError(f"answer verdict {fields['verdict']!r}, expected one of {', '.join(VERDICTS)}")
        return Answer(_question_id(fields["question"]), fields["verdict"])
    if kind is Withdraw:
        _expect_keys(fields, {"question"})
        return Withdraw(_question_id(fields["question"]))
    if kind is Busy:
        _expect_keys(fields, {"busy"})
        if not isinstance(fields["busy"], bool):
            raise ChannelError(f"busy {fields['busy']!r} is not true or false")
        return Busy(fields["busy"])
    _expect_keys(fields, set())
    return kind()


def _question_id(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_ID:
        raise ChannelError(f"question id {value!r} is not a number from 1 to {MAX_ID}")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _expect_keys(fields: dict, expected: set[str]) -> None:
    if set(fields) != expected:
        raise ChannelError(f"fields {sorted(fields)}, expected {sorted(expected)}")


# --- The socket ------------------------------------------------------------------------------

class Channel:
    """One end: a datagram socket bound at `own`, sending to `peer`. `close()` is safe twice."""

    def __init__(self, own: Path, peer: Path, *, send_timeout: float = SEND_TIMEOUT) -> None:
        self.own = Path(own)
        self.peer = Path(peer)
        self._peer_missing_logged = False
        self._junk_logged_at = -math.inf
        self.dropped = 0   # datagrams that were not messages
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            _remove_stale(self.own)   # left by a predecessor that was killed
            self._sock.bind(str(self.own))
            os.chmod(self.own, 0o600)   # only our own user may send (the unit's UMask says so too)
        except OSError:
            self._sock.close()
            raise
        self._sock.settimeout(send_timeout)   # for sends; receiving waits in select()

    def send(self, message: Message) -> bool:
        """Deliver `message` to the peer; False if it is not there (or not keeping up)."""
        try:
            self._sock.sendto(encode(message), str(self.peer))
        except OSError as error:   # no peer yet, peer gone, or its queue full past the timeout
            if not self._peer_missing_logged:
                # Not an error: the peer says hello when it starts, and is told then.
                logger.info("sync channel: nobody at %s yet (%s)", self.peer, error)
                self._peer_missing_logged = True
            return False
        if self._peer_missing_logged:
            logger.info("sync channel: %s reachable again", self.peer)
            self._peer_missing_logged = False
        return True

    def peer_listening(self) -> bool:
        """Whether a process is bound at the peer's socket now (a killed one leaves a file that
        refuses connections); nothing is sent."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(str(self.peer))
            except OSError:
                return False
        return True

    def receive(self, timeout: float | None) -> Message | None:
        """The next message, waiting at most `timeout` s (None: until one comes); None if the
        wait ended without one, or what came was not a message (logged, then dropped)."""
        data = self.receive_bytes(timeout)
        return None if not data else self._decoded(data)   # empty: `wake()`

    def receive_batch(self, timeout: float | None, *, limit: int = 64) -> list[Message]:
        """The messages among the datagrams already queued (at most `limit` datagrams), after
        waiting at most `timeout` s for the first: a reader that rests between batches handles
        a burst in one go, and a flood (of junk too) in bounded pieces."""
        messages, wait = [], timeout
        for _ in range(limit):
            data = self.receive_bytes(wait)
            if data is None:
                break
            wait = 0
            message = self._decoded(data) if data else None   # empty: `wake()`
            if message is not None:
                messages.append(message)
        return messages

    def _decoded(self, data: bytes) -> Message | None:
        try:
            return decode(data)
        except ChannelError as error:
            # A flood must not flood the journal: one line per JUNK_LOG_EVERY seconds.
            self.dropped += 1
            now = time.monotonic()
            if now - self._junk_logged_at >= JUNK_LOG_EVERY:
                self._junk_logged_at = now
                logger.warning("sync channel: dropped a datagram on %s (%d so far): %s",
                               self.own, self.dropped, error)
            return None

    def receive_bytes(self, timeout: float | None) -> bytes | None:
        # Waits in select(), not with the socket's timeout: that one belongs to send(), which
        # another thread may be in at the same moment.
        try:
            readable, _, _ = select.select([self._sock], [], [], timeout)
            if not readable:
                return None
            return self._sock.recv(MAX_DATAGRAM + 1, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return None
        except (OSError, ValueError):
            if self._sock.fileno() < 0:   # closed under us
                return None
            raise

    def wake(self) -> None:
        """Make a `receive()` waiting on another thread return now (with None: an empty datagram)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as waker:
                waker.settimeout(SEND_TIMEOUT)
                waker.sendto(b"", str(self.own))
        except OSError:
            pass

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._sock.close()
            _remove_stale(self.own)

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _remove_stale(path: Path) -> None:
    try:
        if path.is_socket():
            path.unlink()
    except OSError:
        pass
