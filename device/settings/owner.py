"""The person's own part of the device: settings from the computer and their own routines.

A value (`Owned`) and the changes a computer may propose to it. `propose` checks a change
with the same rules as `config check` and `routines check` (every problem as
`FILE:LINE: what`) and returns what the device would hold afterwards, or says it holds that
already; nothing here touches the disk (`device.settings.ownerstore` keeps it).

Limits that keep a hostile or buggy computer harmless: routine names are
`[a-z0-9-]{1,32}` (a file name with no way out of its folder), at most 32 routines of the
person's own, at most 16 KiB each; built-in routines (and those in /etc) can be left out of
the order, never deleted; settings only from `settable.SETTABLE`, each in its range.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Union

from device.base import timefmt
from device.base.errors import ConfigError, FacepaceError, Problem
from device.settings import config as config_module
from device.settings.config import Config
from device.settings.routines import Routine, RoutineError, parse_routine
from device.settings.settable import BY_NAME, ROUTINE_NAME, apply_to_config
from device.settings.tomlsource import Problems, TomlReadError, did_you_mean, parse_toml, toml_repr

MAX_OWN_ROUTINES = 32
MAX_ROUTINE_BYTES = 16 * 1024
SETTINGS_FILE = "settings.toml"


class ChangeRejected(FacepaceError):
    """A change that does not pass the checks: each problem a `Problem` (file, line, key where
    the checks know them) or a plain line; `lines` is how they travel back to the computer."""

    def __init__(self, problems: Iterable[Problem | str]) -> None:
        super().__init__(problems=[p if isinstance(p, Problem) else Problem(p) for p in problems])

    @property
    def lines(self) -> list[str]:
        return [str(problem) for problem in self.problems]


@dataclass(frozen=True)
class Owned:
    """What the computer has set: settings (checked values) and the person's routines (bytes)."""

    settings: dict[str, Any] = field(default_factory=dict)
    routines: dict[str, bytes] = field(default_factory=dict)

    @property
    def settings_bytes(self) -> bytes:
        return render_settings(self.settings)


# --- Changes the computer may propose ---------------------------------------------------

@dataclass(frozen=True)
class PutRoutine:
    name: str
    toml: bytes


@dataclass(frozen=True)
class RemoveRoutine:
    name: str


@dataclass(frozen=True)
class SetOrder:
    names: tuple[str, ...]


@dataclass(frozen=True)
class SetSettings:
    values: tuple[tuple[str, Any], ...]   # (name, value); None puts the setting back


Change = Union[PutRoutine, RemoveRoutine, SetOrder, SetSettings]


@dataclass(frozen=True)
class Proposal:
    """A checked change: what the screen asks, and what the device holds if the person says yes."""

    change: Change
    prompt: str
    after: Owned


def content_hash(data: bytes) -> str:
    """The routine's hash as `Routine.content_hash` and the session log give it."""
    return hashlib.sha256(data).hexdigest()


def propose(owned: Owned, change: Change, *, base: Config, others: list[Routine]) -> Proposal | None:
    """The checked change, or None when the device holds exactly that already.

    `base` is the config without the computer's settings (defaults < /etc), `others` the
    routines that are not the person's (built-ins, /etc). Raises `ChangeRejected`.
    """
    if isinstance(change, PutRoutine):
        return _put(owned, change, others)
    if isinstance(change, RemoveRoutine):
        return _remove(owned, change, others)
    if isinstance(change, SetOrder):
        as_setting = SetSettings((("routine_order", list(change.names)),))
        return _settings(owned, as_setting, base, others, change)
    return _settings(owned, change, base, others, change)


def check_routine(name: str, raw: bytes) -> Routine:
    """A routine as the person's own: its name, its size, then every rule of `routines check`."""
    label = Path(f"{name}.toml")
    if not ROUTINE_NAME.fullmatch(name):
        raise ChangeRejected([f"{toml_repr(name)}: a routine name is 1..32 lowercase letters, digits and -"
                              " (the file name without .toml)"])
    if len(raw) > MAX_ROUTINE_BYTES:
        raise ChangeRejected([f"{label}: too large: {len(raw)} bytes, a routine is at most "
                              f"{MAX_ROUTINE_BYTES // 1024} KiB"])
    try:
        return parse_routine(parse_toml(raw, label))
    except TomlReadError as error:
        raise ChangeRejected(error.problems) from None
    except RoutineError as error:
        raise ChangeRejected(error.problems) from None


def routines_in_order(owned: Owned, others: list[Routine]) -> list[Routine]:
    """The routines the double press cycles through: the person's order if set, else the
    others in their order (an own routine of the same name in its place) then the own ones."""
    own = {name: check_routine(name, raw) for name, raw in owned.routines.items()}
    everything = [own.pop(routine.name, routine) for routine in others] + [own[name] for name in sorted(own)]
    order = owned.settings.get("routine_order")
    if order is None:
        return everything
    by_name = {routine.name: routine for routine in everything}
    # A routine of /etc's that has since been deleted drops out; the cycle is never empty.
    return [by_name[name] for name in order if name in by_name] or everything


def merged_config(base: Config, owned: Owned) -> Config:
    """defaults < /etc config < the computer's settings; `ConfigError` if together they break
    a rule between settings (say /etc's off_after under the computer's dim_after)."""
    config = apply_to_config(base, owned.settings)
    problems = [message for _, message in config_module._cross_checks(config, None)]
    if problems:
        raise ConfigError("\n".join(problems))
    return config


# --- The settings file ------------------------------------------------------------------

def render_settings(values: dict[str, Any]) -> bytes:
    """The settings as TOML, one `name = value` line each, in the table's order."""
    lines = ["# Set from the computer (facepace settings set); checked on the device."]
    for name in BY_NAME:
        if name in values:
            lines.append(f"{name} = {_toml_value(values[name])}")
    return ("\n".join(lines) + "\n").encode()


def _writable(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (bool, str)) or (isinstance(value, int) and abs(value) < 2**63)


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, str):
        # JSON's escapes are TOML's; TOML also forbids a raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, float):
        return repr(value)
    return toml_repr(value)


def parse_settings(raw: bytes, path: Path) -> dict[str, Any]:
    """Settings from a file written by `render_settings` (or by hand): every problem as FILE:LINE."""
    try:
        source = parse_toml(raw, path)
    except TomlReadError as error:
        raise ChangeRejected(error.problems) from None
    problems = Problems(source)
    values = {}
    for name, value in source.data.items():
        setting = BY_NAME.get(name)
        if setting is None:
            problems.add((name,), _not_settable(name))
            continue
        problem = setting.problem(value)
        if problem:
            problems.add((name,), f"{name} {problem}")
        else:
            values[name] = float(value) if setting.rule is not None and setting.rule.kind is float else value
    if problems:
        raise ChangeRejected(problems.found())
    return values


def _not_settable(name: str) -> str:
    wiring = {item.name for kind in config_module.SECTIONS.values() for item in dataclasses.fields(kind)}
    wiring -= {setting.config_key[1] for setting in BY_NAME.values() if setting.config_key}
    if name in wiring:
        return f"{name} is part of the wiring: it is set in /etc/facepace/config.toml, not from the computer"
    return f"{name} is not a setting the computer may change{did_you_mean(name, list(BY_NAME))}"


# --- Checks of each kind of change --------------------------------------------------------

def _put(owned: Owned, change: PutRoutine, others: list[Routine]) -> Proposal | None:
    routine = check_routine(change.name, change.toml)
    builtin = next((other for other in others if other.name == change.name), None)
    if owned.routines.get(change.name) == change.toml or (
            change.name not in owned.routines and builtin is not None
            and builtin.content_hash == routine.content_hash):
        return None
    if change.name not in owned.routines and len(owned.routines) >= MAX_OWN_ROUTINES:
        raise ChangeRejected([f"{change.name}.toml: the device holds {MAX_OWN_ROUTINES} routines of yours"
                              " already: remove one first (facepace routines remove NAME)"])
    settings = dict(owned.settings)
    order = settings.get("routine_order")
    if order is not None and change.name not in order:
        settings["routine_order"] = [*order, change.name]   # a new routine joins the cycle
    verb = "Replace" if change.name in owned.routines or builtin is not None else "Add"
    prompt = f"{verb} routine '{routine.title}' {timefmt.duration(routine.total_seconds)}"
    return Proposal(change, prompt, Owned(settings, {**owned.routines, change.name: change.toml}))


def _remove(owned: Owned, change: RemoveRoutine, others: list[Routine]) -> Proposal | None:
    name = change.name
    if name not in owned.routines:
        if any(other.name == name for other in others):
            raise ChangeRejected([f"'{name}' is built in: it cannot be removed; leave it out of the"
                                  " order to hide it (facepace routines order ...)"])
        raise ChangeRejected([f"no routine of yours is named {toml_repr(name)}"
                              f"{did_you_mean(name, sorted(owned.routines)) if owned.routines else ''}"])
    settings = dict(owned.settings)
    order = settings.get("routine_order")
    still_there = any(other.name == name for other in others)   # the built-in comes back
    if order is not None and name in order and not still_there:
        if order == [name]:
            raise ChangeRejected([f"'{name}' is the only routine the double press offers:"
                                  " set another order first"])
        settings["routine_order"] = [known for known in order if known != name]
    title = check_routine(name, owned.routines[name]).title
    routines = {key: value for key, value in owned.routines.items() if key != name}
    return Proposal(change, f"Remove routine '{title}'", Owned(settings, routines))


def _settings(owned: Owned, change: SetSettings, base: Config, others: list[Routine],
              original: Change) -> Proposal | None:
    unknown = [name for name, _ in change.values if name not in BY_NAME]
    if unknown:
        raise ChangeRejected([_not_settable(name) for name in unknown])
    odd = [f"{SETTINGS_FILE}: {name} {BY_NAME[name].problem(value)}" for name, value in change.values
           if value is not None and not _writable(value)]
    if odd:   # a table or a NaN from JSON: no TOML line to put it on
        raise ChangeRejected(odd)
    values = dict(owned.settings)
    for name, value in change.values:
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    # The same reader and rules a file on the card gets: the problems name its lines.
    checked = parse_settings(render_settings(values), Path(SETTINGS_FILE))
    order = checked.get("routine_order")
    if order is not None:
        known = [routine.name for routine in others] + sorted(owned.routines)
        missing = [name for name in order if name not in known]
        if missing:
            raise ChangeRejected([f"{SETTINGS_FILE}: routine_order names {', '.join(map(repr, missing))},"
                                  f" which the device does not have (it has {', '.join(known)})"])
    after = Owned(checked, owned.routines)
    try:
        merged_config(base, after)
    except ConfigError as error:
        raise ChangeRejected([f"{SETTINGS_FILE}: {line}" for line in str(error).splitlines()]) from None
    if checked == owned.settings:
        return None
    return Proposal(original, _settings_prompt(original, owned.settings, checked), after)


def _settings_prompt(change: Change, before: dict[str, Any], after: dict[str, Any]) -> str:
    if isinstance(change, SetOrder):
        return "Routines: " + ", ".join(change.names)
    parts = []
    for name in BY_NAME:
        if before.get(name) != after.get(name):
            value = after.get(name)
            parts.append(f"{name} {'default' if value is None else _shown(value)}")
    return "Set " + ", ".join(parts)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)
