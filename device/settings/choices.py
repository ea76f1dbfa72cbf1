"""The person's own choices — intensity and selected routine — kept across restarts.

A small JSON file in the state folder, replaced atomically. The config only gives the
defaults for a first start; what the person picked on the device wins after that. A
missing, unreadable or odd file just means the defaults, and a failed write is logged,
never raised: these are conveniences, not data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from device.base.durable import write_atomically

log = logging.getLogger("facepace")


@dataclass(frozen=True)
class Choices:
    intensity: int
    routine: str
    # The person changed the intensity with the hold during the gentle start: their level is
    # kept as it is (device.log.goals.gentle_level).
    overridden: bool = False


def load_choices(path: Path, default: Choices) -> Choices:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        intensity, routine = data["intensity"], data["routine"]
        overridden = data.get("overridden", False)   # files from before the gentle start lack it
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return default
    if not (isinstance(intensity, int) and 1 <= intensity <= 5 and isinstance(routine, str)
            and isinstance(overridden, bool)):
        return default
    return Choices(intensity, routine, overridden)


def save_choices(path: Path, choices: Choices) -> bool:
    try:
        write_atomically(path, json.dumps(asdict(choices)).encode())
        return True
    except OSError as error:
        log.warning("could not keep the choice of %s: %s", choices, error)
        return False
