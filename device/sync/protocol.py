"""Messages of the sync protocol: types, JSON payloads, and checks on what arrives.

Every payload is a UTF-8 JSON object. Requests carry `rid`, a number the host picks;
the reply repeats it, so a host that re-sends a request after a lost reply can tell a
stale answer from the one it is waiting for. Everything received is untrusted: on the
device the `integer`/`number`/`text` helpers turn anything unexpected into a
`ProtocolError` whose code goes back in an ERROR reply; on the computer `decode_welcome`
and `decode_batch` check every field of what a device sends, each session against the
rules of the session log's own records (device.log.sessionschema), and raise a
`ProtocolError` naming the message, the session and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from device.base.errors import FacepaceError
from device.log import sessionschema
from device.log.logdb import SessionRecord
from device.log.sessionschema import FieldProblem, Rule, checked
from device.sync.frames import Frame, encode

PROTOCOL_VERSION = 3   # 2: sessions carry mono_end; 3: the owner's settings and routines
READ_ONLY_VERSIONS = (2,)   # devices this computer still syncs, without changing them

HELLO, WELCOME = 0x01, 0x02
SET_CLOCK, CLOCK_SET = 0x03, 0x04
PULL, BATCH = 0x05, 0x06
ACK, ACKED = 0x07, 0x08
BYE = 0x09
# Version 3 (device.sync.ownerproto): read the owner's part, stage a change, ask how it went.
READ_OWNER, OWNER = 0x0A, 0x0B
READ_ROUTINE, ROUTINE = 0x0C, 0x0D
STAGE, CHANGE = 0x0E, 0x0F
DECISION = 0x10                 # answered with CHANGE
ERROR = 0x7F

NAMES = {HELLO: "HELLO", WELCOME: "WELCOME", SET_CLOCK: "SET_CLOCK", CLOCK_SET: "CLOCK_SET",
         PULL: "PULL", BATCH: "BATCH", ACK: "ACK", ACKED: "ACKED", BYE: "BYE",
         READ_OWNER: "READ_OWNER", OWNER: "OWNER", READ_ROUTINE: "READ_ROUTINE", ROUTINE: "ROUTINE",
         STAGE: "STAGE", CHANGE: "CHANGE", DECISION: "DECISION", ERROR: "ERROR"}
OWNER_REQUESTS = frozenset({READ_OWNER, READ_ROUTINE, STAGE, DECISION})
HOST_REQUESTS = frozenset({HELLO, SET_CLOCK, PULL, ACK, BYE}) | OWNER_REQUESTS

# Error codes (docs/sync-protocol.md lists what each means and what the host does).
E_BAD_CRC = "bad_crc"
E_TOO_LARGE = "too_large"
E_UNKNOWN_TYPE = "unknown_type"
E_BAD_PAYLOAD = "bad_payload"
E_VERSION = "version"
E_NO_HELLO = "no_hello"
E_LOG = "log_unavailable"
E_INTERNAL = "internal"
E_PENDING = "change_pending"      # another change waits for the person's answer
E_NO_OWNER = "owner_unavailable"  # this device cannot take changes now (its store is not wired)

# The session fields a BATCH carries, in this order: the log's columns
# (device.log.logdb.SESSION_COLUMNS), then `date_quality` and `zones`, a list of
# [zone_id, planned_seconds, done_seconds, skipped].
SESSION_FIELDS = ("id", "seq", "device_id", "routine_name", "routine_hash", "intensity",
                  "wall_start", "wall_end", "wall_checkpoint", "wall_trusted", "boot_id",
                  "mono_start", "active_seconds", "outcome", "mono_end", "date_quality", "zones")
DATE_QUALITIES = ("clock", "host", "estimated")
MAX_BATCH_SESSIONS = 500
MAX_BATCH_BYTES = 60 * 1024      # below the frame limit, with room for the envelope
MIN_UTC, MAX_UTC = 1_577_836_800.0, 4_102_444_800.0   # 2020-01-01 .. 2100-01-01
MAX_SEQ = 2**62


class ProtocolError(FacepaceError):
    """The other side sent something we cannot accept; `code` goes in the ERROR reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Message:
    type: int
    body: dict

    @property
    def name(self) -> str:
        return NAMES.get(self.type, f"0x{self.type:02x}")

    @property
    def rid(self) -> Any:
        return self.body.get("rid")


def pack(message_type: int, **body) -> bytes:
    """One frame's bytes for a message; compact JSON keeps batches small."""
    payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    return encode(message_type, payload)


def unpack(frame: Frame, *, accepted: frozenset[int] | None = None) -> Message:
    if accepted is not None and frame.type not in accepted:
        raise ProtocolError(E_UNKNOWN_TYPE, f"message type 0x{frame.type:02x} is not accepted here")
    try:
        body = json.loads(frame.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested arrays are a cheap way to attack a JSON parser.
        raise ProtocolError(E_BAD_PAYLOAD, "payload is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError(E_BAD_PAYLOAD, "payload must be a JSON object")
    return Message(frame.type, body)


def integer(body: dict, key: str, low: int, high: int) -> int:
    value = body.get(key)
    # bool is an int in Python; `true` is not a sequence number.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(E_BAD_PAYLOAD, f"'{key}' must be a whole number {low}..{high}, got {value!r}")
    return value


def number(body: dict, key: str, low: float, high: float) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ProtocolError(E_BAD_PAYLOAD, f"'{key}' must be a number {low}..{high}, got {value!r}")
    return float(value)


def text(body: dict, key: str, max_length: int = 200) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise ProtocolError(E_BAD_PAYLOAD, f"'{key}' must be text of 1..{max_length} characters")
    return value


def session_values(record, date_quality: str) -> list:
    """A `SessionRecord` as a BATCH carries it: its values in SESSION_FIELDS order."""
    values = [getattr(record, name) for name in SESSION_FIELDS[:-2]]
    return values + [date_quality, [list(zone) for zone in record.zones]]


def request_id(body: dict) -> int:
    return integer(body, "rid", 0, 2**53)


# --- The computer's side: what a device sends, checked before anything is stored --------

@dataclass(frozen=True)
class Welcome:
    device_id: str
    log_id: str
    firmware: str
    last_seq: int       # the device's newest seq when it answered: this sync goes no further
    protocol: int = PROTOCOL_VERSION   # a READ_ONLY_VERSIONS device syncs, but takes no changes


@dataclass(frozen=True)
class Batch:
    sessions: list[tuple[SessionRecord, str]]   # (record, date_quality), seq order, none past
    last_seq: int                               # the cursor once they are stored
    remaining: int                              # sessions after the batch, for the progress bar


_COUNT = Rule(0, MAX_SEQ)     # counts and seqs
_TEXT_ID = sessionschema.SESSION_RULES["device_id"]
_FIRMWARE = Rule(length=64, printable=True)
_REFUSAL = Rule(length=300)   # a sentence for the person; printed through for_terminal


def decode_welcome(body: dict) -> Welcome:
    """WELCOME's fields the computer uses, checked; `ProtocolError` says which is wrong."""
    version = body.get("protocol")
    if isinstance(version, bool) or not isinstance(version, int) \
            or version not in (PROTOCOL_VERSION, *READ_ONLY_VERSIONS):
        raise ProtocolError(E_VERSION, f"the device speaks sync protocol {sessionschema.show(version)},"
                                       f" this computer {PROTOCOL_VERSION}: update facepace on the older one")
    try:
        return Welcome(device_id=checked("device_id", body.get("device_id"), str, _TEXT_ID),
                       log_id=checked("log_id", body.get("log_id"), str, _TEXT_ID),
                       firmware=checked("firmware", body.get("firmware"), str, _FIRMWARE),
                       last_seq=checked("last_seq", body.get("last_seq"), int, _COUNT),
                       protocol=version)
    except FieldProblem as problem:
        raise ProtocolError(E_BAD_PAYLOAD, f"WELCOME: {problem}") from None


def decode_clock_set(body: dict) -> tuple[int, int, str | None]:
    """(sessions whose dates the device fixed, sessions it can only estimate, why it did not
    take the computer's time if it did not)."""
    try:
        return (checked("fixed", body.get("fixed"), int, _COUNT),
                checked("estimated", body.get("estimated"), int, _COUNT),
                checked("refused", body.get("refused"), str, _REFUSAL, nullable=True))
    except FieldProblem as problem:
        raise ProtocolError(E_BAD_PAYLOAD, f"CLOCK_SET: {problem}") from None


def decode_batch(body: dict, *, after: int, device_id: str, announced: int) -> Batch:
    """A BATCH answering `PULL after=after`, every field of every session checked.

    Refused whole (`ProtocolError` naming the session and the field) if anything is wrong,
    including a session of another device, an id twice, seqs not rising from `after`, or a
    `last_seq` that is not the last session's. Sessions past `announced` (WELCOME's
    `last_seq`: they finished during this sync) are left for the next sync.
    """
    try:
        if body.get("fields") != list(SESSION_FIELDS):
            raise FieldProblem("fields", f"must be this version's ({', '.join(SESSION_FIELDS)}),"
                                         f" got {sessionschema.show(body.get('fields'))}")
        checked("after", body.get("after"), int, Rule(after, after))   # the PULL's, repeated
        remaining = checked("remaining", body.get("remaining"), int, _COUNT)
        sessions = checked("sessions", body.get("sessions"), tuple, Rule())
        last_seq = checked("last_seq", body.get("last_seq"), int, _COUNT)
    except FieldProblem as problem:
        raise ProtocolError(E_BAD_PAYLOAD, f"BATCH: {problem}") from None
    decoded: list[tuple[SessionRecord, str]] = []
    ids, previous = set(), after
    for position, values in enumerate(sessions, 1):
        label = values[0] if isinstance(values, list) and values and sessionschema.is_valid_id(values[0]) \
            else f"#{position} of the batch"
        try:
            record, quality = _decode_session(values, device_id)
            if record.id in ids:
                raise FieldProblem("id", "sent twice in one batch")
            if record.seq <= previous:
                raise FieldProblem("seq", f"must be above {previous} (seqs rise through a batch),"
                                          f" got {record.seq}")
        except FieldProblem as problem:
            raise ProtocolError(E_BAD_PAYLOAD, f"BATCH: session {label}: {problem}") from None
        ids.add(record.id)
        previous = record.seq
        decoded.append((record, quality))
    if last_seq != previous:
        raise ProtocolError(E_BAD_PAYLOAD, f"BATCH: field last_seq: must be the last session's seq,"
                                           f" {previous}, got {last_seq}")
    kept = [(record, quality) for record, quality in decoded if record.seq <= announced]
    return Batch(kept, kept[-1][0].seq if kept else after, remaining)


def _decode_session(values: Any, device_id: str) -> tuple[SessionRecord, str]:
    """The inverse of `session_values`, for what a device sent; `FieldProblem` if it is wrong."""
    if not isinstance(values, list) or len(values) != len(SESSION_FIELDS):
        raise FieldProblem("fields", f"a session must be a list of {len(SESSION_FIELDS)} values,"
                                     f" got {sessionschema.show(values)}")
    named = dict(zip(SESSION_FIELDS, values))
    quality = checked("date_quality", named.pop("date_quality"), str, Rule(choices=DATE_QUALITIES))
    record = sessionschema.finished_session(named)
    if record.device_id != device_id:
        raise FieldProblem("device_id", f"must be this device's, {device_id!r}, got {record.device_id!r}")
    return record, quality
