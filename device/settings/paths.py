"""Where things live: from the environment (systemd sets these), else the platform's folders."""

from __future__ import annotations

import os
from pathlib import Path

DEVICE_CONFIG = Path("/etc/facepace/config.toml")
SESSION_LOG = "sessions.db"   # the device's session log, in the state folder


def state_dir() -> Path:
    """`$FACEPACE_STATE_DIR`, else systemd's `$STATE_DIRECTORY`, else the user data folder."""
    for variable in ("FACEPACE_STATE_DIR", "STATE_DIRECTORY"):
        value = os.environ.get(variable)
        if value:
            return Path(value.split(":")[0])
    import platformdirs   # only off the device (systemd sets STATE_DIRECTORY): 8 ms of a start-up

    return Path(platformdirs.user_data_dir("facepace", appauthor=False))


def session_log() -> Path:
    """The device's session log: what the firmware writes and `log`, `sync-serve`, `export` read."""
    return state_dir() / SESSION_LOG


def config_in_use(explicit: Path | None) -> Path | None:
    """`--config PATH` when given, else the device's config if there is one, else None (defaults)."""
    if explicit is not None:
        return explicit
    return DEVICE_CONFIG if DEVICE_CONFIG.exists() else None


def routines_dir(config_path: Path | None) -> Path | None:
    """User routines live in a `routines` folder next to the config file."""
    return None if config_path is None else config_path.parent / "routines"


def runtime_dir() -> Path:
    """systemd's `$RUNTIME_DIRECTORY` (/run/facepace): the power-off request and export status."""
    value = os.environ.get("RUNTIME_DIRECTORY") or os.environ.get("FACEPACE_RUNTIME_DIR")
    return Path(value.split(":")[0]) if value else Path("/run/facepace")


def stick_inbox() -> Path:
    """Routines copied off a USB stick by `facepace export`, waiting for the firmware to ask."""
    return runtime_dir() / "import"
