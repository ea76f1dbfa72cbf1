"""Routines: TOML files of zones, validated whole, and the library the device offers.

A routine file has a `title`, an optional `description`, then one `[[zones]]` table per
zone in order. `load_routine` reports every problem at once, each as
`FILE:LINE: zone 'cheeks': seconds must be 5..600, got 0`.

Built-ins ship in the `device/settings/routines/` folder next to this module (package data; the
folder has no `__init__.py`, so `import device.settings.routines` still finds this file).
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from device.base.errors import RoutineError
from device.settings.tomlsource import (Problems, Rule, TomlReadError, TomlSource, did_you_mean, printable,
                                        read_toml, toml_repr)

BUILTIN_DIR = Path(__file__).parent / "routines"
BUILTIN_ORDER = ("daily", "quick", "lymphatic", "evening")

# What fits the 128 px screen: the zone title in the large font, the cue in the small
# one. The screen module owns the pixel budget; its test renders every built-in zone.
ROUTINE_TITLE_MAX_CHARS = 40
ZONE_TITLE_MAX_CHARS = 12
CUE_MAX_LINES = 2
CUE_LINE_MAX_CHARS = 21

ZONE_ID_PATTERN = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
ZONE_ID_MAX_CHARS = 32

ROUTINE_KEYS = ("title", "description", "zones")
ZONE_RULES = {
    "id": Rule(str),
    "title": Rule(str),
    "cue": Rule(str),
    "seconds": Rule(int, 5, 600),
    "tempo": Rule(int, 0, 120),  # strokes per minute; 0 = no ticks
    "intensity": Rule(int, 1, 5),  # relative to the other zones
    "sides": Rule(int, choices=(1, 2)),  # 2 = left then right, switch cue halfway
    "enabled": Rule(bool),
    "caution": Rule(str, check=lambda text: None),  # "" = none; shown in place of the cue for the zone's first CAUTION_SECONDS
}
ZONE_OPTIONAL = {"enabled": True, "caution": ""}
CAUTION_SECONDS = 6.0
MIN_SECONDS_PER_SIDE = 5


@dataclass(frozen=True)
class Zone:
    id: str
    title: str
    cue: str  # one or two lines, separated by "\n"
    seconds: int
    tempo: int
    intensity: int
    sides: int
    enabled: bool = True
    caution: str = ""  # "" = none; lines separated by "\n", as the cue

    @property
    def cue_lines(self) -> tuple[str, ...]:
        return tuple(self.cue.split("\n"))

    def caution_at(self, zone_elapsed: float) -> str | None:
        """The caution the zone's screen shows `zone_elapsed` seconds into the zone (its first
        side), or None: it is read before the first strokes, then the cue takes its place."""
        return self.caution if self.caution and 0 <= zone_elapsed < CAUTION_SECONDS else None


@dataclass(frozen=True)
class Routine:
    name: str  # the file name without .toml
    title: str
    description: str
    zones: tuple[Zone, ...]
    source: Path
    content_hash: str  # sha256 of the file's bytes, so a session log names the exact version

    @property
    def active_zones(self) -> tuple[Zone, ...]:
        return tuple(zone for zone in self.zones if zone.enabled)

    @property
    def total_seconds(self) -> int:
        return sum(zone.seconds for zone in self.active_zones)


def load_routine(path: Path) -> Routine:
    """Read and validate one routine file; `RoutineError` lists every problem."""
    try:
        source = read_toml(path)
    except TomlReadError as error:
        raise RoutineError(problems=error.problems) from error
    return parse_routine(source)


def parse_routine(source: TomlSource) -> Routine:
    problems = Problems(source)
    data = source.data
    for key in data:
        if key not in ROUTINE_KEYS:
            problems.add((key,), f"unknown key '{key}'{did_you_mean(key, list(ROUTINE_KEYS))}")
    title = _text(problems, data, "title", required=True)
    if len(title) > ROUTINE_TITLE_MAX_CHARS:
        problems.add(("title",), f"title is {len(title)} characters; at most {ROUTINE_TITLE_MAX_CHARS}")
    description = _text(problems, data, "description", required=False)
    zones = _zones(problems, data)
    if problems:
        raise RoutineError(problems=problems.found())
    return Routine(name=source.path.stem, title=title, description=description, zones=zones,
                   source=source.path, content_hash=hashlib.sha256(source.raw).hexdigest())


def _text(problems: Problems, data: dict[str, Any], key: str, *, required: bool) -> str:
    value = data.get(key)
    if value is None:
        if required:
            problems.add((key,), f"{key} is missing")
        return ""
    if not isinstance(value, str):
        problems.add((key,), f"{key} must be a string, got {toml_repr(value)}")
        return ""
    if required and not value.strip():
        problems.add((key,), f"{key} must not be empty")
    return value.strip()


def _zones(problems: Problems, data: dict[str, Any]) -> tuple[Zone, ...]:
    tables = data.get("zones")
    if not tables:
        problems.add(("zones",), "no zones: add at least one [[zones]] table")
        return ()
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        problems.add(("zones",), "zones must be [[zones]] tables")
        return ()
    if all(table.get("enabled") is False for table in tables):
        problems.add(("zones",), "every zone is disabled: enable at least one")
    zones = []
    line_of_id: dict[str, int] = {}
    for index, table in enumerate(tables):
        zone = _zone(problems, index, table)
        zone_id = table.get("id")
        if isinstance(zone_id, str) and zone_id:
            if zone_id in line_of_id:
                problems.add(("zones", index, "id"),
                             f"zone '{zone_id}': id is already used on line {line_of_id[zone_id]}")
            line_of_id.setdefault(zone_id, problems.source.lines.line_of(("zones", index, "id")))
        if zone is not None:
            zones.append(zone)
    return tuple(zones)


def _zone(problems: Problems, index: int, table: dict[str, Any]) -> Zone | None:
    """One zone, or None after reporting why it is not valid."""
    zone_id = table.get("id")
    label = f"zone '{zone_id}'" if isinstance(zone_id, str) and zone_id else f"zone {index + 1}"
    count_before = len(problems)

    def report(key: str | None, message: str) -> None:
        path = ("zones", index) if key is None else ("zones", index, key)
        problems.add(path, f"{label}: {message}")

    for key in table:
        if key not in ZONE_RULES:
            report(key, f"unknown key '{key}'{did_you_mean(key, list(ZONE_RULES))}")
    values = dict(ZONE_OPTIONAL)
    for key, rule in ZONE_RULES.items():
        if key not in table:
            if key not in ZONE_OPTIONAL:
                report(None, f"{key} is missing")
            continue
        problem = rule.problem(table[key])
        if problem:
            report(key, f"{key} {problem}")
        else:
            values[key] = table[key]
    for key, message in _zone_text_problems(values):
        report(key, message)
    if "seconds" in values and values.get("sides") == 2 and values["seconds"] < 2 * MIN_SECONDS_PER_SIDE:
        report("seconds", f"seconds must be at least {2 * MIN_SECONDS_PER_SIDE} with sides = 2, "
                          f"got {values['seconds']}")
    if len(problems) > count_before:
        return None
    values["cue"] = "\n".join(_cue_lines(values["cue"]))
    values["caution"] = "\n".join(_cue_lines(values["caution"])) if values["caution"].strip() else ""
    values["title"] = values["title"].strip()
    return Zone(**values)


def _zone_text_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Ids a file system and a log can carry; titles and cues that fit the screen."""
    found = []
    zone_id = values.get("id")
    if zone_id is not None and not (ZONE_ID_PATTERN.fullmatch(zone_id) and len(zone_id) <= ZONE_ID_MAX_CHARS):
        found.append(("id", f"id must be lowercase letters and digits joined by - or _ "
                            f"(at most {ZONE_ID_MAX_CHARS}), got {toml_repr(zone_id)}"))
    title = values.get("title")
    if title is not None and "\n" in title:
        found.append(("title", "title must be one line"))
    elif title is not None and len(title.strip()) > ZONE_TITLE_MAX_CHARS:
        found.append(("title", f"title {toml_repr(title.strip())} is {len(title.strip())} characters; "
                               f"at most {ZONE_TITLE_MAX_CHARS} fit the screen"))
    cue = values.get("cue")
    if cue is not None:
        found.extend(("cue", message) for message in _cue_problems(cue))
    caution = values.get("caution")
    if caution:
        found.extend(("caution", message.replace("cue", "caution", 1)) for message in _cue_problems(caution))
        control = next((char for char in caution if char != "\n" and not char.isprintable()), None)
        if control is not None:
            found.append(("caution", f"caution must be printable text, got {toml_repr(caution)}"))
    return found


def _cue_problems(cue: str) -> list[str]:
    """A cue is what a person wrote; it only fails if no wrapping makes it fit."""
    lines = _cue_lines(cue)
    too_long = next((line for line in lines if len(line) > CUE_LINE_MAX_CHARS), None)
    if too_long is not None:  # one word, since lines break between words
        return [f"cue word {toml_repr(too_long)} is {len(too_long)} characters; "
                f"at most {CUE_LINE_MAX_CHARS} fit on a line"]
    if len(lines) > CUE_MAX_LINES:
        shown = " / ".join(map(toml_repr, lines[:CUE_MAX_LINES + 1]))
        shown += " ..." if len(lines) > CUE_MAX_LINES + 1 else ""
        return [f"cue needs {len(lines)} lines on the screen ({shown}); "
                f"{CUE_MAX_LINES} lines of {CUE_LINE_MAX_CHARS} characters fit"]
    return []


def _cue_lines(cue: str) -> list[str]:
    """The lines as shown: each line written is wrapped between words to fit the screen (a
    multi-line TOML string's surrounding blank lines and indents go)."""
    return [wrapped for line in cue.strip().split("\n")
            for wrapped in textwrap.wrap(line, CUE_LINE_MAX_CHARS, break_long_words=False,
                                         break_on_hyphens=False) or [""]]


class RoutineLibrary(NamedTuple):
    """The routines the device offers, in display order, and the user files it skipped."""

    routines: tuple[Routine, ...]
    errors: tuple[RoutineError, ...]

    def names(self) -> list[str]:
        return [routine.name for routine in self.routines]

    def get(self, name: str) -> Routine | None:
        return next((routine for routine in self.routines if routine.name == name), None)

    def is_builtin(self, routine: Routine) -> bool:
        return routine.source.parent == BUILTIN_DIR


def skipped_notice(error: RoutineError) -> str:
    """What the device's screen says about a skipped file: its name and its first problem in
    full, e.g. "Skipped mine.toml, line 3: zone 'neck': seconds must be 5..600, got 0"."""
    first = error.problems[0]
    if first.file is None:
        return f"Skipped a routine: {first.what}"
    where = printable(first.file.name) + ("" if first.line is None else f", line {first.line}")
    return f"Skipped {where}: {first.what}"


def builtin_paths() -> list[Path]:
    """Built-in files: the fixed order first, then any others by name."""
    ranked = {name: rank for rank, name in enumerate(BUILTIN_ORDER)}
    paths = BUILTIN_DIR.glob("*.toml")
    return sorted(paths, key=lambda path: (ranked.get(path.stem, len(ranked)), path.stem))


def user_paths(user_dir: Path | None) -> list[Path]:
    if user_dir is None or not user_dir.is_dir():
        return []
    # Editors leave hidden files (".daily.toml.swp", ".#daily.toml") next to the real one.
    return sorted(path for path in user_dir.glob("*.toml") if not path.name.startswith("."))


def load_library(user_dir: Path | None) -> RoutineLibrary:
    """Built-ins, then user routines: same name replaces in place, new names are appended.

    A bad user file is skipped and its error returned, so the device keeps working.
    """
    routines: list[Routine] = []
    errors: list[RoutineError] = []
    for path in builtin_paths() + user_paths(user_dir):
        try:
            routine = load_routine(path)
        except RoutineError as error:
            errors.append(error)
            continue
        position = next((i for i, known in enumerate(routines) if known.name == routine.name), None)
        if position is None:
            routines.append(routine)
        else:
            routines[position] = routine
    return RoutineLibrary(tuple(routines), tuple(errors))


def find_routine(name_or_path: str, user_dir: Path | None) -> Routine:
    """`--routine NAME|FILE`: a .toml path is loaded as is; a name is looked up.

    A broken user file of that name raises its error rather than quietly falling back to
    the built-in: the person asked for their version.
    """
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return load_routine(Path(name_or_path))
    for path in user_paths(user_dir) + builtin_paths():
        if path.stem == name_or_path:
            return load_routine(path)
    known = sorted({path.stem for path in builtin_paths() + user_paths(user_dir)})
    raise RoutineError(f"no routine named '{name_or_path}'{did_you_mean(name_or_path, known)}")
