"""Version 3 of the sync protocol: the owner's settings and routines (docs/sync-protocol.md).

    READ_OWNER   -> OWNER    the settings in use, which of them the computer set, the routines
                             with their content hashes, the double press's order
    READ_ROUTINE -> ROUTINE  one routine's file (base64) and its hash
    STAGE        -> CHANGE   a change for the person to accept or refuse on the device
    DECISION     -> CHANGE   how that change stands now

Both sides' checks live here. The device turns a host's request into a checked value
(`decode_stage` gives a `device.settings.owner` change) or a `ProtocolError` (bad_payload);
what the change *means* is checked afterwards by `owner.propose`, with the rules of
`routines check` and `config check`. The computer checks every field a device sends
(`decode_owner`, `decode_routine`, `decode_change`) before it prints or stores any of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from device.log.sessionschema import FieldProblem, Rule, checked, show
from device.settings.owner import (MAX_ROUTINE_BYTES, Change, PutRoutine, RemoveRoutine, SetOrder,
                                   SetSettings)
from device.settings.settable import MAX_ORDER
from device.sync import protocol as p

CHANGE_KINDS = ("put_routine", "remove_routine", "set_order", "set_settings", "set_time_zone")
# How a staged change stands. asking: on the screen now; busy: the device is in a session and
# asks when it is over; accepted: the person pressed and it is stored; refused: the person
# held; timed_out: no answer in time; rejected: it failed the checks (`problems`); unchanged:
# the device holds exactly that already; failed: accepted, but the card would not take it.
STATES = ("asking", "busy", "accepted", "refused", "timed_out", "rejected", "unchanged", "failed")
WAITING = ("asking", "busy")
ORIGINS = ("builtin", "device", "own")    # shipped, from /etc/facepace/routines, from the computer
MAX_NAME = 64                 # a request's routine name; owner.propose applies the real rule
MAX_ROUTINE_BASE64 = 4 * -(-MAX_ROUTINE_BYTES // 3)
MAX_SETTINGS = 32             # values in one set_settings
MAX_ROUTINES = 256            # routines an OWNER lists (32 own, the built-ins, /etc's)
MAX_PROBLEMS = 21             # a rejection's lines (tomlsource shows 20 and "and N more")

# --- The device's side: requests from an untrusted host -----------------------------------


def decode_read_routine(body: dict) -> str:
    return p.text(body, "name", MAX_NAME)


def decode_decision(body: dict) -> int:
    return p.integer(body, "change_id", 1, 2**53)


def decode_stage(body: dict) -> Change:
    kind = body.get("change")
    if kind == "put_routine":
        return PutRoutine(p.text(body, "name", MAX_NAME), _base64(body.get("toml"), "toml"))
    if kind == "remove_routine":
        return RemoveRoutine(p.text(body, "name", MAX_NAME))
    if kind == "set_order":
        names = body.get("names")
        if not isinstance(names, list) or not 0 < len(names) <= MAX_ORDER \
                or not all(isinstance(name, str) and 0 < len(name) <= MAX_NAME for name in names):
            raise p.ProtocolError(p.E_BAD_PAYLOAD, f"'names' must be a list of 1..{MAX_ORDER} routine names")
        return SetOrder(tuple(names))
    if kind == "set_settings":
        values = body.get("values")
        if not isinstance(values, dict) or not 0 < len(values) <= MAX_SETTINGS:
            raise p.ProtocolError(p.E_BAD_PAYLOAD, f"'values' must be an object of 1..{MAX_SETTINGS} settings")
        for name, value in values.items():
            if not 0 < len(name) <= MAX_NAME or not _is_setting_value(value):
                raise p.ProtocolError(p.E_BAD_PAYLOAD, f"setting {show(name)}: a value must be true, false,"
                                                       f" a number, a text, a list of texts or null")
        return SetSettings(tuple(values.items()))
    if kind == "set_time_zone":
        return SetSettings((("time_zone", p.text(body, "time_zone", MAX_NAME)),))
    raise p.ProtocolError(p.E_BAD_PAYLOAD, f"'change' must be one of {', '.join(CHANGE_KINDS)}, got {show(kind)}")


def _is_setting_value(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) <= 2**53
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= MAX_NAME
    return isinstance(value, list) and len(value) <= MAX_ORDER and all(
        isinstance(item, str) and len(item) <= MAX_NAME for item in value)


def _base64(value: Any, key: str) -> bytes:
    if not isinstance(value, str) or len(value) > MAX_ROUTINE_BASE64:
        raise p.ProtocolError(p.E_BAD_PAYLOAD, f"'{key}' must be base64 of at most {MAX_ROUTINE_BYTES} bytes")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise p.ProtocolError(p.E_BAD_PAYLOAD, f"'{key}' is not base64") from None


# --- Replies -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RoutineInfo:
    name: str
    title: str
    seconds: int
    hash: str        # sha256 of the file's bytes, as the session log names it
    origin: str      # one of ORIGINS


@dataclass(frozen=True)
class OwnerView:
    """What READ_OWNER tells the computer."""

    settings: dict[str, Any]       # every setting the computer may change, with its value in use
    overridden: tuple[str, ...]    # those set from the computer
    settings_hash: str             # of the settings file the computer's settings are kept in
    routines: tuple[RoutineInfo, ...]
    order: tuple[str, ...]         # what the double press cycles through


def owner_reply(rid: int, view: OwnerView) -> bytes:
    return p.pack(p.OWNER, rid=rid, settings=view.settings, overridden=list(view.overridden),
                  settings_hash=view.settings_hash, order=list(view.order),
                  routines=[[r.name, r.title, r.seconds, r.hash, r.origin] for r in view.routines])


def routine_reply(rid: int, name: str, data: bytes) -> bytes:
    return p.pack(p.ROUTINE, rid=rid, name=name, hash=hashlib.sha256(data).hexdigest(),
                  toml=base64.b64encode(data).decode())


def change_reply(rid: int, change_id: int, state: str, problems: list[str] = (), message: str = "") -> bytes:
    return p.pack(p.CHANGE, rid=rid, change_id=change_id, state=state, problems=list(problems)[:MAX_PROBLEMS],
                  message=message)


def stage_request(change: Change) -> dict:
    """The STAGE body for a change (the computer's side)."""
    if isinstance(change, PutRoutine):
        return {"change": "put_routine", "name": change.name, "toml": base64.b64encode(change.toml).decode()}
    if isinstance(change, RemoveRoutine):
        return {"change": "remove_routine", "name": change.name}
    if isinstance(change, SetOrder):
        return {"change": "set_order", "names": list(change.names)}
    if [name for name, _ in change.values] == ["time_zone"]:
        return {"change": "set_time_zone", "time_zone": change.values[0][1]}
    return {"change": "set_settings", "values": dict(change.values)}


# --- The computer's side: what a device sends, checked -------------------------------------

_HASH = Rule(pattern=re.compile(r"[0-9a-f]{64}"))
_ROUTINE_NAME = Rule(length=255, printable=True)     # /etc's files may be named anything
_TITLE = Rule(length=200, printable=True)
_SECONDS = Rule(0, 10**7)
_SETTING_NAME = Rule(pattern=re.compile(r"[a-z][a-z0-9_]{0,31}"))
_TEXT = Rule(length=300, printable=True)
_ID = Rule(1, 2**53)


@dataclass(frozen=True)
class ChangeState:
    change_id: int
    state: str
    problems: tuple[str, ...] = ()
    message: str = ""


def decode_owner(body: dict) -> OwnerView:
    try:
        settings = body.get("settings")
        if not isinstance(settings, dict) or len(settings) > 64:
            raise FieldProblem("settings", f"must be an object of at most 64 settings, got {show(settings)}")
        for name, value in settings.items():
            checked("settings name", name, str, _SETTING_NAME)
            if not _is_setting_value(value) or (isinstance(value, str) and not value.isprintable()):
                raise FieldProblem(f"settings.{name}", f"must be a setting's value, got {show(value)}")
        overridden = _texts("overridden", body.get("overridden"), _SETTING_NAME, 64)
        order = _texts("order", body.get("order"), _ROUTINE_NAME, MAX_ROUTINES)
        rows = checked("routines", body.get("routines"), tuple, Rule())
        if len(rows) > MAX_ROUTINES:
            raise FieldProblem("routines", f"must list at most {MAX_ROUTINES}, got {len(rows)}")
        routines = tuple(_routine_info(position, row) for position, row in enumerate(rows))
        return OwnerView(settings, tuple(overridden), checked("settings_hash", body.get("settings_hash"), str, _HASH),
                         routines, tuple(order))
    except FieldProblem as problem:
        raise p.ProtocolError(p.E_BAD_PAYLOAD, f"OWNER: {problem}") from None


def _texts(name: str, value: Any, rule: Rule, most: int) -> list[str]:
    items = checked(name, value, tuple, Rule())
    if len(items) > most:
        raise FieldProblem(name, f"must hold at most {most}, got {len(items)}")
    return [checked(f"{name}[{index}]", item, str, rule) for index, item in enumerate(items)]


def _routine_info(position: int, row: Any) -> RoutineInfo:
    if not isinstance(row, list) or len(row) != 5:
        raise FieldProblem(f"routines[{position}]", f"must be [name, title, seconds, hash, origin], got {show(row)}")
    name, title, seconds, content_hash, origin = row
    where = f"routines[{position}]"
    return RoutineInfo(checked(f"{where}.name", name, str, _ROUTINE_NAME),
                       checked(f"{where}.title", title, str, _TITLE),
                       checked(f"{where}.seconds", seconds, int, _SECONDS),
                       checked(f"{where}.hash", content_hash, str, _HASH),
                       checked(f"{where}.origin", origin, str, Rule(choices=ORIGINS)))


def decode_routine(body: dict, name: str) -> bytes:
    """The file of routine `name`, its bytes checked against the hash the device sent."""
    try:
        checked("name", body.get("name"), str, Rule(choices=(name,)))
        content_hash = checked("hash", body.get("hash"), str, _HASH)
        encoded = checked("toml", body.get("toml"), str, Rule(length=4 * 64 * 1024 // 3 + 4))
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise FieldProblem("toml", "must be base64") from None
        if hashlib.sha256(data).hexdigest() != content_hash:
            raise FieldProblem("toml", "does not match its hash (damaged in transit or a broken device)")
        return data
    except FieldProblem as problem:
        raise p.ProtocolError(p.E_BAD_PAYLOAD, f"ROUTINE: {problem}") from None


def decode_change(body: dict, change_id: int | None = None) -> ChangeState:
    """A CHANGE; `change_id` the one the computer is waiting on (None right after STAGE)."""
    try:
        got = checked("change_id", body.get("change_id"), int,
                      _ID if change_id is None else Rule(change_id, change_id))
        state = checked("state", body.get("state"), str, Rule(choices=STATES))
        problems = _texts("problems", body.get("problems", []), Rule(length=1000), MAX_PROBLEMS) \
            if body.get("problems") else []
        message = body.get("message") or ""
        if message:
            message = checked("message", message, str, _TEXT)
        return ChangeState(got, state, tuple(problems), message)
    except FieldProblem as problem:
        raise p.ProtocolError(p.E_BAD_PAYLOAD, f"CHANGE: {problem}") from None
