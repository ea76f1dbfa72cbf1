"""The device settings: frozen dataclasses with defaults, loaded from a TOML file.

Each setting carries its rule (type and allowed range) next to its default, so the
documented defaults, the validation and the error messages cannot drift apart.
Every problem in a file is reported at once, each as
`FILE:LINE: [motor] min_duty must be 0.0..1.0, got 1.5`, in one `ConfigError`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from device.base.errors import ConfigError
from device.settings.goal import ANCHOR_MAX_CHARS, GENTLE_MAX_SESSIONS, WEEKDAYS, anchor_problem
from device.settings.paths import DEVICE_CONFIG, routines_dir
from device.settings.tomlsource import Problems, Rule, TomlReadError, TomlSource, did_you_mean, read_toml, toml_repr

# Which GPIO pins each I2C bus takes on a Raspberry Pi header (bus 0 is the HAT EEPROM bus).
I2C_BUS_PINS = {0: (0, 1), 1: (2, 3)}


def setting(default: Any, rule: Rule) -> Any:
    return field(default=default, metadata={"rule": rule})


@dataclass(frozen=True)
class ButtonConfig:
    pin: int = setting(17, Rule(int, 0, 27))  # BCM numbering, button to ground
    bounce_ms: int = setting(20, Rule(int, 1, 100))
    hold_seconds: float = setting(1.5, Rule(float, 0.5, 5.0))
    double_press_ms: int = setting(350, Rule(int, 100, 1000))


@dataclass(frozen=True)
class MotorConfig:
    pin: int = setting(18, Rule(int, 0, 27))
    frequency: int = setting(250, Rule(int, 50, 10_000))  # PWM Hz
    kick_ms: int = setting(25, Rule(int, 0, 100))  # full duty first, or an ERM may not spin up
    min_duty: float = setting(0.35, Rule(float, 0.0, 1.0))  # weakest: level 1 on a zone of intensity 1
    max_duty: float = setting(1.0, Rule(float, 0.1, 1.0))  # strongest: level 5 on a zone of intensity 5
    haptics: bool = setting(True, Rule(bool))


@dataclass(frozen=True)
class DisplayConfig:
    bus: int = setting(1, Rule(int, 0, 31))
    address: int = setting(0x3C, Rule(int, 0x03, 0x77, as_hex=True))
    rotation: int = setting(0, Rule(int, choices=(0, 180)))


@dataclass(frozen=True)
class TimeoutConfig:
    dim_after: int = setting(60, Rule(int, 5, 3600))
    off_after: int = setting(300, Rule(int, 10, 86_400))
    summary_return: int = setting(30, Rule(int, 5, 600))
    pause_limit: int = setting(300, Rule(int, 30, 3600))


@dataclass(frozen=True)
class SessionConfig:
    intensity: int = setting(3, Rule(int, 1, 5))
    routine: str = setting("daily", Rule(str))


@dataclass(frozen=True)
class GoalConfig:
    weekly_goal: int = setting(5, Rule(int, 1, 7))  # days a week with a session that counts
    week_start: str = setting("monday", Rule(str, choices=WEEKDAYS))
    gentle_sessions: int = setting(5, Rule(int, 0, GENTLE_MAX_SESSIONS))  # 0: no gentle start
    anchor: str = setting("", Rule(str, check=anchor_problem,
                                   explained=f"a phrase of at most {ANCHOR_MAX_CHARS} characters, or \"\""))


@dataclass(frozen=True)
class SyncConfig:
    port: str = setting("/dev/ttyGS0", Rule(str))  # USB gadget serial


@dataclass(frozen=True)
class BatteryConfig:
    enabled: bool = setting(False, Rule(bool))  # a MAX17048 fuel gauge on the display's I2C bus
    address: int = setting(0x36, Rule(int, 0x03, 0x77, as_hex=True))
    warning_percent: int = setting(15, Rule(int, 1, 90))  # below: the screen says so
    critical_percent: int = setting(5, Rule(int, 0, 50))  # below: no session; power off cleanly


@dataclass(frozen=True)
class Config:
    button: ButtonConfig = field(default_factory=ButtonConfig)
    motor: MotorConfig = field(default_factory=MotorConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    goal: GoalConfig = field(default_factory=GoalConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    battery: BatteryConfig = field(default_factory=BatteryConfig)
    source: Path | None = None  # the file these came from; None = built-in defaults


SECTIONS: dict[str, type] = {
    section.name: section.default_factory  # type: ignore[misc]
    for section in dataclasses.fields(Config)
    if section.name != "source"
}


def load_config(path: Path | None, *, routine_names: Sequence[str] | None = None) -> Config:
    """Settings from `path` (which must exist), or the defaults when `path` is None.

    With `routine_names`, `[session] routine` must be one of them."""
    if path is None:
        return Config()
    if not path.exists():
        raise ConfigError("no such config file", file=path)
    try:
        source = read_toml(path)
    except TomlReadError as error:
        raise ConfigError(problems=error.problems) from error
    return _build(source, routine_names)


def load_checked_config(path: Path | None) -> Config:
    """What every command that reads the config loads: `load_config`, with the routine it
    names checked against the built-ins and the files in the routines folder next to it."""
    from device.settings.routines import builtin_paths, user_paths

    names = [routine.stem for routine in builtin_paths() + user_paths(routines_dir(path))]
    return load_config(path, routine_names=list(dict.fromkeys(names)))


def load_config_file_or_defaults(path: Path = DEVICE_CONFIG) -> Config:
    """For the default location: a missing file just means the defaults."""
    return load_config(path if path.exists() else None)


def as_toml(config: Config) -> str:
    """The settings as a config file would set them; a value that is not the default says so."""
    defaults = Config()
    tables = []
    for section, kind in SECTIONS.items():
        lines = [f"[{section}]"]
        for item in dataclasses.fields(kind):
            value = getattr(getattr(config, section), item.name)
            default = getattr(getattr(defaults, section), item.name)
            rule = item.metadata["rule"]
            note = "" if value == default else f"  # default: {_toml_value(rule, default)}"
            lines.append(f"{item.name} = {_toml_value(rule, value)}{note}")
        tables.append("\n".join(lines) + "\n")
    return "\n".join(tables)


def _toml_value(rule: Rule, value: Any) -> str:
    if isinstance(value, str):
        # JSON's escapes are TOML's; TOML also forbids a raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if rule.as_hex:
        return f"0x{value:02X}"
    return toml_repr(value)


def _build(source: TomlSource, routine_names: Sequence[str] | None) -> Config:
    problems = Problems(source)
    bad_keys: set[tuple[str, ...]] = set()

    def report(key_path: tuple[str, ...], message: str) -> None:
        bad_keys.add(key_path)
        problems.add(key_path, message)

    sections: dict[str, Any] = {}
    for name, table in source.data.items():
        if name not in SECTIONS:
            report((name,), _unknown_section(name, table))
        elif not isinstance(table, dict):
            report((name,), f"[{name}] must be a table, got {toml_repr(table)}")
        else:
            sections[name] = _build_section(name, table, report)
    config = Config(**sections, source=source.path)
    for involved, message in _cross_checks(config, routine_names):
        # A bad value was replaced by its default: comparing with it would mislead.
        if not any(key in bad_keys or key[:1] in bad_keys for key in involved):
            problems.add(_blame(source, involved), message)
    if problems:
        raise ConfigError(problems=problems.found())
    return config


def _unknown_section(name: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"unknown section [{name}]{did_you_mean(name, list(SECTIONS), show=_header)}"
    homes = [section for section, kind in SECTIONS.items()
             if name in {item.name for item in dataclasses.fields(kind)}]
    if homes:
        return f"'{name}' must be inside a section: " + " or ".join(map(_header, homes))
    return f"unknown key '{name}' (settings go in sections: " + ", ".join(map(_header, SECTIONS)) + ")"


def _header(section: str) -> str:
    return f"[{section}]"


def _build_section(name: str, table: dict[str, Any], report) -> Any:
    section_type = SECTIONS[name]
    rules = {item.name: item.metadata["rule"] for item in dataclasses.fields(section_type)}
    values = {}
    for key, value in table.items():
        if key not in rules:
            report((name, key), f"[{name}] unknown key '{key}'{did_you_mean(key, list(rules))}")
            continue
        problem = rules[key].problem(value)
        if problem:
            report((name, key), f"[{name}] {key} {problem}")
        else:
            values[key] = float(value) if rules[key].kind is float else value
    return section_type(**values)


def _blame(source: TomlSource, involved: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The first of the keys involved that the file actually sets (a default has no line)."""
    for section, key in involved:
        table = source.data.get(section)
        if isinstance(table, dict) and key in table:
            return (section, key)
    return involved[0]


def _cross_checks(config: Config, routine_names: Sequence[str] | None
                  ) -> list[tuple[list[tuple[str, ...]], str]]:
    """Rules between settings, and with the routines: (keys involved, most likely culprit
    first; message)."""
    found = []
    routine = config.session.routine
    if routine_names is not None and routine not in routine_names:
        folder = routines_dir(config.source)
        found.append(([("session", "routine")],
                      f"[session] routine must be one of {', '.join(map(repr, routine_names))}"
                      f" (or a NAME.toml in {folder}), got {toml_repr(routine)}"))
    motor, timeouts = config.motor, config.timeouts
    if motor.min_duty > motor.max_duty:
        found.append(([("motor", "min_duty"), ("motor", "max_duty")],
                      f"[motor] min_duty ({motor.min_duty}) must not be above max_duty ({motor.max_duty})"))
    if timeouts.off_after <= timeouts.dim_after:
        found.append(([("timeouts", "off_after"), ("timeouts", "dim_after")],
                      f"[timeouts] off_after ({timeouts.off_after}) must be longer than "
                      f"dim_after ({timeouts.dim_after})"))
    battery = config.battery
    if battery.critical_percent >= battery.warning_percent:
        found.append(([("battery", "critical_percent"), ("battery", "warning_percent")],
                      f"[battery] critical_percent ({battery.critical_percent}) must be below "
                      f"warning_percent ({battery.warning_percent})"))
    if battery.enabled and battery.address == config.display.address:
        found.append(([("battery", "address"), ("display", "address")],
                      f"[battery] address and [display] address are both 0x{battery.address:02X}"))
    if config.button.pin == motor.pin:
        found.append(([("motor", "pin"), ("button", "pin")],
                      f"[button] pin and [motor] pin are both {motor.pin}"))
    bus_pins = I2C_BUS_PINS.get(config.display.bus, ())
    for section in ("button", "motor"):
        pin = getattr(config, section).pin
        if pin in bus_pins:
            found.append(([(section, "pin"), ("display", "bus")],
                          f"[{section}] pin {pin} is taken by the display's I2C bus "
                          f"{config.display.bus} (GPIO {bus_pins[0]} and {bus_pins[1]})"))
    return found
