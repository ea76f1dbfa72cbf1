"""The Routines page's editor: the form and the TOML text kept in step, checked with the rules
of `facepace routines check`, and previewed with the device's own screens.

The form is the TOML's data as plain JSON (title, description, zones with their keys): the
page sends whichever side the person edited, and gets back the other side, the problems and
the preview. Each zone's screens come from `device.screen.screens.render`, the code that
draws the panel, scaled up by whole pixels so the page shows exactly the panel's pixels.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from device.base import timefmt
from device.base.errors import FacepaceError
from device.screen.screens import render
from device.screen.views import ZoneView
from device.settings.routines import ZONE_RULES, Routine, Zone, parse_routine
from device.settings.tomlsource import TomlReadError, parse_toml

SCALE = 3                      # one panel pixel = SCALE x SCALE page pixels, nearest neighbour
ZONE_KEYS = tuple(ZONE_RULES)  # id, title, cue, seconds, tempo, intensity, sides, enabled
TICK_MS = 70                   # the tick pattern's pulse (device.core.haptics)


def toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, DEL aside."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return toml_string(str(value))


def toml_of(form: Any) -> str:
    """The form as a routine file, in the built-ins' layout. A field left empty (None) is left
    out, so the check says it is missing; anything else is written as it came and checked."""
    zones = form.get("zones") if isinstance(form, dict) else None
    if not isinstance(form, dict) or not isinstance(zones, list) or not all(isinstance(z, dict) for z in zones):
        raise FacepaceError("the form must be an object with a list of zones")
    lines = [f"title = {toml_value(form.get('title') or '')}"]
    if form.get("description"):
        lines.append(f"description = {toml_value(form['description'])}")
    for zone in zones:
        lines += ["", "[[zones]]"]
        for key in ZONE_KEYS:
            if zone.get(key) is not None and not (key == "enabled" and zone[key] is True):
                lines.append(f"{key} = {toml_value(zone[key])}")
    return "\n".join(lines) + "\n"


def form_of(data: dict) -> dict:
    """The parts of parsed TOML the form shows (unknown keys stay in the text only)."""
    zones = data.get("zones") if isinstance(data.get("zones"), list) else []
    return {"title": data.get("title", ""), "description": data.get("description", ""),
            "zones": [{key: zone[key] for key in ZONE_KEYS if key in zone}
                      for zone in zones if isinstance(zone, dict)]}


@dataclass(frozen=True)
class Checked:
    toml: str
    form: dict | None                 # None: the text is not TOML, so the form cannot follow
    routine: Routine | None           # None: there are problems
    error: FacepaceError | None = None   # what `routines check` would raise

    @property
    def problems(self) -> list[dict]:
        return problem_list(self.error) if self.error else []


def check(name: str, *, toml: str | None = None, form: dict | None = None) -> Checked:
    """Check one side of the editor; `name` is the routine's file name without .toml."""
    if toml is None:
        toml = toml_of(form)
    path = Path(f"{name}.toml")
    try:
        source = parse_toml(toml.encode("utf-8"), path)
    except TomlReadError as error:
        return Checked(toml, form, None, error)
    try:
        routine = parse_routine(source)
    except FacepaceError as error:
        return Checked(toml, form or form_of(source.data), None, error)
    return Checked(toml, form or form_of(source.data), routine)


def problem_list(error: FacepaceError) -> list[dict]:
    """Each problem as the page shows it: the text `routines check` prints, and its zone."""
    return [{"text": str(problem),
             "zone": problem.key[1] if len(problem.key) > 1 and problem.key[0] == "zones" else None}
            for problem in error.problems]


def ready(name: str, toml: str) -> bytes:
    """The routine file to save or send; `RoutineError` with every problem when it is not ready."""
    error = check(name, toml=toml).error
    if error is not None:
        raise error
    return toml.encode("utf-8")


def zone_views(routine: Routine) -> list[list[ZoneView]]:
    """Each enabled zone's screen as the zone starts (and, for two sides, as the right side
    starts), with the numbers `App.view` gives them."""
    zones = routine.active_zones
    views = []
    for number, zone in enumerate(zones, start=1):
        def at(remaining: float, side: str | None, zone: Zone = zone, number: int = number) -> ZoneView:
            return ZoneView(zone.title, zone.cue, math.ceil(remaining), zone.seconds, number, len(zones), side)
        views.append([at(zone.seconds, "left"), at(zone.seconds / 2, "right")] if zone.sides == 2
                     else [at(zone.seconds, None)])
    return views


def png_scaled(image: Image.Image) -> bytes:
    big = image.convert("L").resize((image.width * SCALE, image.height * SCALE), Image.Resampling.NEAREST)
    out = io.BytesIO()
    big.save(out, format="PNG", optimize=False, compress_level=1)
    return out.getvalue()


def tick_rhythm(zone: Zone) -> dict:
    """What the motor does during the zone: a 70 ms tick every 60/tempo seconds."""
    if zone.tempo <= 0:
        return {"tempo": 0, "every_ms": None, "text": "no ticks: paced by the screen alone"}
    every = 60_000 / zone.tempo
    return {"tempo": zone.tempo, "every_ms": round(every), "ticks": int(zone.seconds * zone.tempo // 60),
            "text": f"{zone.tempo} strokes a minute: a {TICK_MS} ms tick every {every / 1000:.2f} s,"
                    f" at strength {zone.intensity} of 5"}


def preview(routine: Routine) -> dict:
    zones = []
    for zone, views in zip(routine.active_zones, zone_views(routine)):
        zones.append({
            "title": zone.title, "seconds": zone.seconds, "length": timefmt.duration(zone.seconds),
            "sides": zone.sides, "rhythm": tick_rhythm(zone),
            "screens": [{"side": view.side or "", "png": "data:image/png;base64,"
                         + base64.b64encode(png_scaled(render(view))).decode()} for view in views],
        })
    return {"total": timefmt.duration(routine.total_seconds), "zones": zones,
            "disabled": [zone.title for zone in routine.zones if not zone.enabled]}


def answer(name: str, *, toml: str | None = None, form: dict | None = None) -> dict:
    """The editor's JSON reply to an edit of either side."""
    checked = check(name, toml=toml, form=form)
    return {"toml": checked.toml, "form": checked.form, "problems": checked.problems,
            "preview": preview(checked.routine) if checked.routine else None}
