"""What a finished session may hold: a rule for every field of `SessionRecord` and `ZoneProgress`.

The types, and whether a field may be empty, are read from the records' own annotations
(device.log.logdb); the rules add only what a type cannot say: ranges, lengths, choices. A
field added to a record without a rule here stops the import, so the checks cannot drift
from the definition. The computer checks every session a device sends with
`finished_session` (device.sync.protocol): a value stored unchecked breaks every reader
after it.

The limits are what an honest device can write, with room: wall times from 1970 (a Pi
that booted without a clock) to 2100 (the latest time a host may set), monotonic times
of any sign (another clock's, in tests and the simulator), at most a day of massage.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from device.base.errors import FacepaceError
from device.settings.config import SessionConfig
from device.log.logdb import SessionRecord, ZoneProgress
from device.settings.routines import ZONE_ID_MAX_CHARS, ZONE_ID_PATTERN

WALL_RANGE = (0.0, 4_102_444_800.0)      # 1970-01-01 .. 2100-01-01, Unix seconds
MONO_RANGE = (-1e12, 1e12)
SECONDS_RANGE = (0.0, 86_400.0)
SEQ_RANGE = (1, 2**62)
FINISHED_OUTCOMES = ("completed", "ended_early", "interrupted")


class FieldProblem(FacepaceError, ValueError):
    """One field's value is not allowed (`key` is the field); the message reads "field NAME:
    what is wrong"."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field}: {problem}", key=(field,))


@dataclass(frozen=True)
class Rule:
    low: float | None = None         # numbers: an inclusive range
    high: float | None = None
    length: int | None = None        # texts: 1..length characters
    printable: bool = False          # ids: no control characters (they are printed as they are)
    pattern: re.Pattern | None = None
    choices: tuple[Any, ...] = ()
    required: bool = False           # never empty once finished, though an open session's may be


def _setting_range(settings, name: str) -> tuple[float, float]:
    """The device's own allowed range of a setting (device.settings.config), so both agree."""
    rule = next(f.metadata["rule"] for f in dataclasses.fields(settings) if f.name == name)
    return rule.low, rule.high


ID = Rule(length=64, printable=True)
SESSION_RULES: dict[str, Rule] = {
    "id": ID,
    "seq": Rule(*SEQ_RANGE, required=True),
    "device_id": ID,
    "routine_name": Rule(length=255),              # a file name: shown through output_safety
    "routine_hash": Rule(length=128, printable=True),
    "intensity": Rule(*_setting_range(SessionConfig, "intensity")),
    "wall_start": Rule(*WALL_RANGE),
    "wall_end": Rule(*WALL_RANGE),
    "wall_checkpoint": Rule(*WALL_RANGE),
    "wall_trusted": Rule(),
    "boot_id": ID,
    "mono_start": Rule(*MONO_RANGE),
    "active_seconds": Rule(*SECONDS_RANGE),
    "outcome": Rule(choices=FINISHED_OUTCOMES, required=True),
    "mono_end": Rule(*MONO_RANGE),
    "zones": Rule(),                                # each one checked with ZONE_RULES
}
ZONE_RULES: dict[str, Rule] = {
    "zone_id": Rule(length=ZONE_ID_MAX_CHARS, pattern=ZONE_ID_PATTERN),
    "planned_seconds": Rule(*SECONDS_RANGE),
    "done_seconds": Rule(*SECONDS_RANGE),
    "skipped": Rule(),
}


def kinds_of(record_type, rules: dict[str, Rule]) -> dict[str, tuple[Any, bool]]:
    """{field: (type, may be None)} from the annotations; every field must have a rule."""
    hints = typing.get_type_hints(record_type)
    if set(hints) != set(rules):
        raise RuntimeError(f"{record_type.__name__} fields and their rules differ:"
                           f" {sorted(set(hints) ^ set(rules))}")
    kinds = {}
    for name, hint in hints.items():
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        kind = next(option for option in options if option is not type(None))
        kinds[name] = (typing.get_origin(kind) or kind, type(None) in options)
    return kinds


SESSION_KINDS = kinds_of(SessionRecord, SESSION_RULES)
ZONE_KINDS = kinds_of(ZoneProgress, ZONE_RULES)
_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "text",
               tuple: "a list"}
_ACCEPTED = {int: int, float: (int, float), bool: bool, str: str, tuple: list}   # as JSON decodes them


def checked(name: str, value: Any, kind: type, rule: Rule, *, nullable: bool = False) -> Any:
    """`value` as `kind` if `rule` allows it, else `FieldProblem` saying why."""
    if value is None:
        if nullable and not rule.required:
            return None
        raise FieldProblem(name, "missing")
    # bool is an int in Python; `true` is not a number, nor 1 a yes.
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, _ACCEPTED[kind]):
        raise FieldProblem(name, f"must be {_KIND_NAMES[kind]}, got {show(value)}")
    if kind is float and not math.isfinite(value):
        raise FieldProblem(name, f"must be a finite number, got {show(value)}")
    if rule.low is not None and not rule.low <= value <= rule.high:
        raise FieldProblem(name, f"must be {_KIND_NAMES[kind]} {show(rule.low)}..{show(rule.high)},"
                                 f" got {show(value)}")
    if kind is str:
        if rule.length is not None and not 0 < len(value) <= rule.length:
            raise FieldProblem(name, f"must be text of 1..{rule.length} characters, got {len(value)}")
        if rule.printable and not value.isprintable():
            raise FieldProblem(name, f"must not hold control characters, got {show(value)}")
        if rule.pattern is not None and not rule.pattern.fullmatch(value):
            raise FieldProblem(name, f"must match {rule.pattern.pattern}, got {show(value)}")
    if rule.choices and value not in rule.choices:
        raise FieldProblem(name, f"must be one of {', '.join(map(repr, rule.choices))}, got {show(value)}")
    return float(value) if kind is float else value


def checker(name: str, kind: type, rule: Rule, *, nullable: bool = False) -> Callable[[Any], Any]:
    """`checked` for one field, its tests chosen once: a value they pass costs a few
    comparisons; any other goes to `checked` itself, which gives it back or says why not.
    Each test here is one of `checked`'s, never more lenient (a test proves it)."""
    def slow(value: Any) -> Any:
        return checked(name, value, kind, rule, nullable=nullable)

    empty_ok = nullable and not rule.required
    tests: list[Callable[[Any], bool]] = []
    if kind is str:
        tests.append(lambda value: type(value) is str)
        if rule.length is not None:
            tests.append(lambda value, most=rule.length: 0 < len(value) <= most)
        if rule.printable:
            tests.append(str.isprintable)
        if rule.pattern is not None:
            tests.append(lambda value, match=rule.pattern.fullmatch: match(value) is not None)
    elif kind is float:
        # JSON gives exact ints and floats (a bool is neither); NaN fails every comparison.
        tests.append(lambda value: type(value) is float or type(value) is int)
        tests.append(math.isfinite)
    else:
        tests.append(lambda value, exact=_ACCEPTED[kind]: type(value) is exact)
    if rule.low is not None:
        tests.append(lambda value, low=rule.low, high=rule.high: low <= value <= high)
    if rule.choices:
        tests.append(lambda value, choices=rule.choices: value in choices)
    convert = float if kind is float else None

    def check(value: Any) -> Any:
        if value is None:
            return None if empty_ok else slow(value)
        for test in tests:
            if not test(value):
                return slow(value)
        return convert(value) if convert is not None else value
    return check


_SESSION_CHECKS = {name: checker(name, kind, SESSION_RULES[name], nullable=nullable)
                   for name, (kind, nullable) in SESSION_KINDS.items()}
_ZONE_CHECKS = [checker(name, kind, ZONE_RULES[name], nullable=nullable)
                for name, (kind, nullable) in ZONE_KINDS.items()]


def finished_session(values: Mapping[str, Any]) -> SessionRecord:
    """A record from untrusted values by field name (zones as [zone_id, planned, done,
    skipped] lists), every field checked; `FieldProblem` names the first one wrong."""
    checked_values = {name: check(values.get(name)) for name, check in _SESSION_CHECKS.items()}
    checked_values["zones"] = tuple(_zone(index, zone) for index, zone in enumerate(checked_values["zones"]))
    return SessionRecord(**checked_values)


def _zone(index: int, values: Any) -> ZoneProgress:
    if not isinstance(values, list) or len(values) != len(ZONE_KINDS):
        raise FieldProblem(f"zones[{index}]", f"must be a list of {len(ZONE_KINDS)} values"
                                              f" ({', '.join(ZoneProgress._fields)}), got {show(values)}")
    try:
        return ZoneProgress(*(check(value) for check, value in zip(_ZONE_CHECKS, values)))
    except FieldProblem:
        pass
    # The message names the zone: `checked` again, with the zone's index in each field's name.
    return ZoneProgress(*(checked(f"zones[{index}].{name}", value, kind, ZONE_RULES[name], nullable=nullable)
                          for (name, (kind, nullable)), value in zip(ZONE_KINDS.items(), values)))


def is_valid_id(value: Any) -> bool:
    try:
        checked("id", value, str, ID)
    except FieldProblem:
        return False
    return True


def show(value: Any, limit: int = 40) -> str:
    """A value for a message: repr escapes control characters, and a long one is cut."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def record_values(record: SessionRecord) -> dict[str, Any]:
    """A record as `finished_session` takes it (zones as lists): to check a stored one again."""
    values = {name: getattr(record, name) for name in SESSION_KINDS}
    values["zones"] = [list(zone) for zone in record.zones]
    return values

