"""Frames on the serial link: a header with its own CRC, then a payload with a CRC.

    magic   2 bytes  FA CE
    type    1 byte   message type (see `protocol`)
    length  4 bytes  payload length, big-endian, at most MAX_PAYLOAD
    hcrc    4 bytes  CRC-32 of the 7 bytes above
    payload length bytes
    crc     4 bytes  CRC-32 of header and payload

The header has its own CRC so that noise which happens to contain the magic cannot make
the reader wait for up to 64 KiB of payload that will never come: a header is believed
only when its CRC matches. On any mismatch the decoder moves one byte past the magic it
tried and searches again, so a real frame hidden inside a false one is still found.

A believed header can still be a lie (or the start of a frame whose rest was lost), so a
partial frame is given up as soon as a new checked header arrives inside what would be
its payload (payloads are UTF-8 JSON, which never holds the byte FA, so that header
cannot be payload), or once it has waited `frame_timeout` seconds, busy link or not.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from device.base.errors import FacepaceError

MAGIC = b"\xfa\xce"
MAX_PAYLOAD = 64 * 1024
_HEAD = struct.Struct(">2sBI")          # magic, type, length
HEADER_SIZE = _HEAD.size + 4            # + header CRC
TRAILER_SIZE = 4
_CRC = struct.Struct(">I")


class FrameError(FacepaceError):
    """Base for framing errors the caller can act on."""


class FrameTooLarge(FrameError):
    """A payload over MAX_PAYLOAD was offered for encoding."""


@dataclass(frozen=True)
class Frame:
    type: int
    payload: bytes


@dataclass(frozen=True)
class Problem:
    """Something the decoder skipped that deserves an error reply.

    `kind` is "bad_crc" (a believable header whose payload did not check out) or
    "too_large" (a checked header announcing more than MAX_PAYLOAD). Plain noise
    between frames is skipped silently and only counted in `FrameDecoder.skipped`.
    """

    kind: str
    type: int


def encode(frame_type: int, payload: bytes = b"") -> bytes:
    if not 0 <= frame_type <= 0xFF:
        raise FrameError(f"frame type must be 0..255, got {frame_type}")
    if len(payload) > MAX_PAYLOAD:
        raise FrameTooLarge(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD}-byte limit")
    head = _HEAD.pack(MAGIC, frame_type, len(payload))
    head += _CRC.pack(zlib.crc32(head))
    return head + payload + _CRC.pack(zlib.crc32(payload, zlib.crc32(head)))


class FrameDecoder:
    """Feed it bytes as they arrive; it returns whole frames and problems, in order.

    Holds at most one frame's worth of bytes (plus what was fed), never raises on input,
    and never returns a frame whose CRCs did not match. Time is what the caller passes
    as `now` (any monotonic seconds); without it a partial frame waits for ever.
    """

    def __init__(self, *, max_payload: int = MAX_PAYLOAD, frame_timeout: float = 1.0) -> None:
        self.max_payload = max_payload
        self.frame_timeout = frame_timeout
        self._buffer = bytearray()
        self._scanned = HEADER_SIZE   # payload bytes of the partial frame searched for a new header
        self._began: float | None = None   # when the partial frame's first byte came
        self.skipped = 0     # noise bytes dropped while searching for a frame

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buffer)

    def reset(self) -> None:
        """Drop a partial frame (its rest is not coming)."""
        self.skipped += len(self._buffer)
        self._drop(len(self._buffer))

    def feed(self, data: bytes, *, now: float | None = None) -> list[Frame | Problem]:
        """Frames and problems completed by `data` (which may be empty: a clock tick)."""
        if now is not None and self._began is not None and now - self._began > self.frame_timeout:
            self.reset()
        found = self._decode(data)
        if now is not None and self._buffer and self._began is None:
            self._began = now
        return found

    def _decode(self, data: bytes) -> list[Frame | Problem]:
        self._buffer += data
        found: list[Frame | Problem] = []
        buffer = self._buffer
        while True:
            start = buffer.find(MAGIC)
            if start < 0:
                # Keep a trailing first magic byte: the second may come with the next read.
                keep = 1 if buffer[-1:] == MAGIC[:1] else 0
                self.skipped += len(buffer) - keep
                self._drop(len(buffer) - keep)
                return found
            if start:
                self.skipped += start
                self._drop(start)
            if len(buffer) < HEADER_SIZE:
                return found
            _, frame_type, length = _HEAD.unpack_from(buffer)
            if not _header_checks(buffer, 0):
                self._skip_magic()
                continue
            if length > self.max_payload:
                found.append(Problem("too_large", frame_type))
                self._skip_magic()
                continue
            end = HEADER_SIZE + length + TRAILER_SIZE
            if len(buffer) < end:
                restart = self._next_header()
                if restart is None:
                    return found
                self.skipped += restart    # the rest of this frame is not coming: a new one began
                self._drop(restart)
                continue
            (crc,) = _CRC.unpack_from(buffer, end - TRAILER_SIZE)
            with memoryview(buffer) as view:  # released before the buffer is resized
                actual = zlib.crc32(view[:end - TRAILER_SIZE])
            if crc != actual:
                found.append(Problem("bad_crc", frame_type))
                self._skip_magic()
                continue
            found.append(Frame(frame_type, bytes(buffer[HEADER_SIZE:end - TRAILER_SIZE])))
            self._drop(end)

    def _next_header(self) -> int | None:
        """Where a checked header starts in the partial frame's payload so far, if one does.

        Searches only what earlier calls have not (a frame fed a byte at a time costs no more
        than one fed whole), and stops before a header that is not complete yet."""
        buffer = self._buffer
        while True:
            at = buffer.find(MAGIC, self._scanned)
            if at < 0:
                self._scanned = max(HEADER_SIZE, len(buffer) - 1)
                return None
            if at + HEADER_SIZE > len(buffer):
                self._scanned = at
                return None
            if _header_checks(buffer, at):
                return at
            self._scanned = at + 1

    def _skip_magic(self) -> None:
        # One byte only: a real frame may start inside what looked like this one.
        self.skipped += 1
        self._drop(1)

    def _drop(self, count: int) -> None:
        """Drop bytes from the front: what is left (if anything) is a new partial frame."""
        if count:
            del self._buffer[:count]
            self._scanned = HEADER_SIZE
            self._began = None


def _header_checks(buffer: bytearray, at: int) -> bool:
    (header_crc,) = _CRC.unpack_from(buffer, at + _HEAD.size)
    with memoryview(buffer) as view:  # released before the buffer is resized
        return header_crc == zlib.crc32(view[at:at + _HEAD.size])
