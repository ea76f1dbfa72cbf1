"""The settings a person may change from the computer: one table, read by both sides.

The device checks what arrives against it; `facepace settings show` prints it. Each entry
names the setting as the person types it (`facepace settings set dim_after=90`) and the
config key it overrides, and takes that key's rule from `device.settings.config`, so the
range `config check` enforces and the one the computer shows cannot drift apart. Pins,
the I2C address and the sync port are not here: they are the wiring, and stay in
/etc/facepace/config.toml for whoever built the device.

Precedence: the defaults, then /etc/facepace/config.toml, then these (README "Settings
from the computer").
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from device.settings.config import SECTIONS, Config
from device.settings.goal import rests_problem
from device.settings.tomlsource import Rule, toml_repr

ROUTINE_NAME = re.compile(r"[a-z0-9-]{1,32}")   # a file name with no way out of its folder
MAX_ORDER = 64        # built-ins, /etc routines and the person's own, each at most once
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]{1,30}(?:/[A-Za-z0-9_+-]{1,30}){0,2}")


@dataclass(frozen=True)
class Settable:
    name: str                   # as the person types it
    help: str
    config_key: tuple[str, str] | None = None   # (section, key) it overrides in Config

    @property
    def rule(self) -> Rule | None:
        if self.config_key is None:
            return None
        section, key = self.config_key
        return next(item.metadata["rule"] for item in dataclasses.fields(SECTIONS[section])
                    if item.name == key)

    def value_in(self, config: Config, *, order: list[str]) -> Any:
        """Its value when nothing from the computer overrides it (no time zone: the system's)."""
        if self.config_key is not None:
            section, key = self.config_key
            return getattr(getattr(config, section), key)
        return order if self.name == "routine_order" else None

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed (as "must be ..., got ..."), or None."""
        if self.name == "routine_order":
            return order_problem(value)
        if self.name == "time_zone":
            return time_zone_problem(value)
        if self.name == "rest_periods":
            return rests_problem(value)
        return self.rule.problem(value)

    @property
    def allowed(self) -> str:
        """The allowed values, for a person: "5..3600", "true or false", "0 or 180"."""
        if self.name == "routine_order":
            return "routine names, at least one"
        if self.name == "time_zone":
            return "an IANA name, e.g. Europe/Paris"
        if self.name == "rest_periods":
            return "set with rest_until=YYYY-MM-DD or rest_days=N (0 ends a rest)"
        rule = self.rule
        if rule.explained:
            return rule.explained
        if rule.kind is bool:
            return "true or false"
        if rule.choices:
            return " or ".join(map(toml_repr, rule.choices))
        return f"{rule._show(rule.low)}..{rule._show(rule.high)}"


SETTABLE = (
    Settable("haptics", "buzz at all (false: the screen alone paces)", ("motor", "haptics")),
    Settable("intensity", "the intensity a first session starts at", ("session", "intensity")),
    Settable("gentlest", "the weakest buzz, as a share of full power", ("motor", "min_duty")),
    Settable("strongest", "the strongest buzz, as a share of full power", ("motor", "max_duty")),
    Settable("dim_after", "seconds before the idle screen dims", ("timeouts", "dim_after")),
    Settable("off_after", "seconds before the idle screen turns off", ("timeouts", "off_after")),
    Settable("summary_return", "seconds the session summary stays", ("timeouts", "summary_return")),
    Settable("pause_limit", "seconds a pause may last before the session ends", ("timeouts", "pause_limit")),
    Settable("rotation", "180 if the screen is mounted upside down", ("display", "rotation")),
    Settable("routine_order", "the routines the double press cycles through, in order"),
    Settable("time_zone", "the zone the device's days and times follow"),
    Settable("weekly_goal", "days a week with a session, for the goal and its streak", ("goal", "weekly_goal")),
    Settable("week_start", "the day weeks start on", ("goal", "week_start")),
    Settable("gentle_sessions", "sessions that start gently (0: none)", ("goal", "gentle_sessions")),
    Settable("anchor", "a phrase for the idle screen, e.g. After brushing teeth", ("goal", "anchor")),
    Settable("rest_periods", "days off that never count against the goal"),
)
BY_NAME = {setting.name: setting for setting in SETTABLE}


def order_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        return f"must be a list of routine names, at least one, got {toml_repr(value)}"
    if len(value) > MAX_ORDER:
        return f"must name at most {MAX_ORDER} routines, got {len(value)}"
    bad = next((name for name in value if not ROUTINE_NAME.fullmatch(name)), None)
    if bad is not None:
        return f"must hold routine names of 1..32 lowercase letters, digits and -, got {toml_repr(bad)}"
    twice = next((name for name in value if value.count(name) > 1), None)
    if twice is not None:
        return f"must name each routine once, got {toml_repr(twice)} twice"
    return None


def time_zone_problem(value: Any) -> str | None:
    """An IANA zone this device's time zone database knows (a name, never a path)."""
    if not isinstance(value, str) or not _ZONE_NAME.fullmatch(value) or ".." in value:
        return f"must be an IANA time zone name such as Europe/Paris, got {toml_repr(value)}"
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"must be a time zone this device knows, such as Europe/Paris, got {toml_repr(value)}"
    return None


def apply_to_config(config: Config, values: dict[str, Any]) -> Config:
    """`config` (defaults < /etc) with the computer's settings on top."""
    changes: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        setting = BY_NAME[name]
        if setting.config_key is not None:
            section, key = setting.config_key
            changes.setdefault(section, {})[key] = float(value) if setting.rule.kind is float else value
    return dataclasses.replace(config, **{
        section: dataclasses.replace(getattr(config, section), **keys) for section, keys in changes.items()})
