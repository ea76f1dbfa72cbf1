"""Config loading and validation, and the TOML line map every message relies on."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from device.settings.config import (
    SECTIONS,
    ButtonConfig,
    Config,
    MotorConfig,
    as_toml,
    load_checked_config,
    load_config,
    load_config_file_or_defaults,
)
from device.base.errors import ConfigError, Problem
from device.settings.linemap import LineMap
from device.settings.tomlsource import TomlReadError, did_you_mean, parse_toml, read_toml

DEFAULTS_FILE = Path(__file__).parents[3] / "device" / "settings" / "defaults" / "config.toml"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def config_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value).splitlines()


# --- line map -------------------------------------------------------------------------

# A document with every shape the scanner must get right; line numbers below refer to it.
LINE_MAP_DOC = (Path(__file__).parents[2] / "data" / "linemap.toml").read_text()


def test_line_map_document_is_valid_toml():
    parse_toml(LINE_MAP_DOC.encode(), Path("linemap.toml"))


@pytest.mark.parametrize(
    ("key_path", "line"),
    [
        (("title",), 2),
        (("notes",), 3),
        (("values",), 7),
        (("motor",), 11),
        (("motor", "min_duty"), 12),
        (("motor", "quoted key", "inner"), 13),
        (("zones",), 14),
        (("zones", 0), 14),
        (("zones", 0, "id"), 15),
        (("zones", 1), 16),
        (("zones", 1, "id"), 17),
        (("zones", 1, "seconds"), 18),
        (("zones", 1, "extra", "k"), 20),
        (("zones", 1, "steps", 0, "n"), 22),
        (("zones", 1, "steps", 1, "n"), 24),
        (("zones", 1, "steps", 1, "after"), 28),
    ],
)
def test_line_map_finds_keys_headers_and_array_entries(key_path, line):
    assert LineMap.scan(LINE_MAP_DOC).line_of(key_path) == line


def test_line_map_ignores_keys_and_headers_inside_strings_and_arrays():
    lines = LineMap.scan(LINE_MAP_DOC)
    assert lines.line_of(("key",)) == 1
    assert lines.line_of(("not_a_table",)) == 1
    assert lines.line_of(("fake",)) == 1


def test_line_map_falls_back_to_the_table_header_then_line_1():
    lines = LineMap.scan(LINE_MAP_DOC)
    assert lines.line_of(("zones", 1, "tempo")) == 16
    assert lines.line_of(("motor", "max_duty")) == 11
    assert lines.line_of(("sync", "port")) == 1
    assert lines.line_of(("zones", 7, "id")) == 14


def test_line_map_counts_only_newlines_as_line_ends():
    text = 'a = "form\x0cfeed and \u2028separator"\nb = 2\n'
    assert LineMap.scan(text).line_of(("b",)) == 2


def test_line_map_handles_crlf_and_escaped_quotes():
    text = 'a = "say \\"[x]\\" # not a comment"\r\n[t]\r\nb = 1\r\n'
    lines = LineMap.scan(text)
    assert (lines.line_of(("t",)), lines.line_of(("t", "b"))) == (2, 3)


def test_syntax_error_is_reported_as_file_and_line(tmp_path):
    path = write(tmp_path, '[motor]\nmin_duty = 0.5\npin 18\n')
    with pytest.raises(TomlReadError) as caught:
        read_toml(path)
    assert (caught.value.file, caught.value.line) == (path, 3)
    assert str(caught.value).startswith(f"{path}:3: invalid TOML: ")
    assert "(column" in caught.value.what
    assert "at line" not in caught.value.what


def test_syntax_error_at_end_of_document_points_at_the_last_line(tmp_path):
    path = write(tmp_path, 'a = 1\nb = """unterminated\n\nmore\n\n')
    with pytest.raises(TomlReadError, match=rf"^{path}:4: invalid TOML: Unterminated string$"):
        read_toml(path)


def test_non_utf8_bytes_are_reported_with_their_line(tmp_path):
    with pytest.raises(TomlReadError, match=r"^f\.toml:2: not UTF-8"):
        parse_toml(b'a = 1\nb = "\xff"\n', Path("f.toml"))


def test_did_you_mean_near_misses_and_shortened_names():
    choices = ["pin", "bounce_ms", "hold_seconds"]
    assert did_you_mean("bounce", choices) == "; did you mean 'bounce_ms'?"
    assert did_you_mean("hold", choices) == "; did you mean 'hold_seconds'?"
    assert did_you_mean("zzz", choices) == "; allowed: 'pin', 'bounce_ms', 'hold_seconds'"


# --- defaults and good files ----------------------------------------------------------


def test_no_path_gives_the_documented_defaults():
    config = load_config(None)
    assert config.button == ButtonConfig(pin=17, bounce_ms=20, hold_seconds=1.5, double_press_ms=350)
    assert config.motor == MotorConfig(pin=18, frequency=250, kick_ms=25, min_duty=0.35,
                                       max_duty=1.0, haptics=True)
    assert (config.display.bus, config.display.address, config.display.rotation) == (1, 0x3C, 0)
    assert (config.timeouts.dim_after, config.timeouts.off_after,
            config.timeouts.summary_return, config.timeouts.pause_limit) == (60, 300, 30, 300)
    assert (config.session.intensity, config.session.routine) == (3, "daily")
    assert config.sync.port == "/dev/ttyGS0"
    assert config.source is None


def test_shipped_default_file_matches_the_code_defaults():
    config = load_config(DEFAULTS_FILE)
    assert config.source == DEFAULTS_FILE
    assert dataclasses.replace(config, source=None) == Config()


def test_shipped_default_file_sets_and_explains_every_setting():
    lines = DEFAULTS_FILE.read_text().splitlines()
    for section in dataclasses.fields(Config):
        if section.name == "source":
            continue
        for setting in dataclasses.fields(section.default_factory):
            index = next((i for i, line in enumerate(lines)
                          if line.startswith(f"{setting.name} = ")), None)
            assert index is not None, f"[{section.name}] {setting.name} missing from defaults file"
            assert lines[index - 1].startswith("#"), f"{setting.name} has no comment above it"


def test_values_are_read_and_whole_numbers_accepted_for_seconds(tmp_path):
    path = write(tmp_path, """
        [button]
        hold_seconds = 2
        [motor]
        min_duty = 0.5
        haptics = false
        [display]
        address = 0x3D
        rotation = 180
        [session]
        routine = "evening"
        """)
    config = load_config(path)
    assert config.button.hold_seconds == 2.0 and isinstance(config.button.hold_seconds, float)
    assert (config.motor.min_duty, config.motor.haptics) == (0.5, False)
    assert (config.display.address, config.display.rotation) == (0x3D, 180)
    assert config.session.routine == "evening"
    assert config.button.pin == 17  # untouched keys keep their defaults


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_config(None).motor.min_duty = 0.1  # type: ignore[misc]


# --- missing files --------------------------------------------------------------------


def test_explicit_missing_file_is_an_error(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=rf"^{missing}: no such config file$"):
        load_config(missing)


def test_missing_default_file_means_defaults(tmp_path):
    assert load_config_file_or_defaults(tmp_path / "absent.toml") == Config()


def test_present_default_file_is_loaded_and_checked(tmp_path):
    path = write(tmp_path, "[motor]\nkick_ms = 500\n")
    with pytest.raises(ConfigError, match=r":2: \[motor\] kick_ms must be 0\.\.100, got 500"):
        load_config_file_or_defaults(path)


def test_duplicate_key_is_a_syntax_error_on_its_line(tmp_path):
    path = write(tmp_path, "[motor]\npin = 18\npin = 19\n")
    assert config_problems(path)[0].startswith(f"{path}:3: invalid TOML: Cannot overwrite a value")


def test_syntax_error_becomes_config_error_with_line(tmp_path):
    path = write(tmp_path, "[motor]\npin = = 3\n")
    assert config_problems(path)[0].startswith(f"{path}:2: invalid TOML:")


# --- one rule at a time -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[button]\npin = 40\n", "2: [button] pin must be 0..27, got 40"),
        ("[button]\npin = \"17\"\n", '2: [button] pin must be a whole number, got "17"'),
        ("[button]\npin = 17.0\n", "2: [button] pin must be a whole number, got 17.0"),
        ("[button]\nbounce_ms = true\n", "2: [button] bounce_ms must be a whole number, got true"),
        ("[button]\nhold_seconds = 9\n", "2: [button] hold_seconds must be 0.5..5.0, got 9.0"),
        ("[button]\ndouble_press_ms = 50\n", "2: [button] double_press_ms must be 100..1000, got 50"),
        ("[motor]\nfrequency = 10\n", "2: [motor] frequency must be 50..10000, got 10"),
        ("[motor]\nmin_duty = 1.5\n", "2: [motor] min_duty must be 0.0..1.0, got 1.5"),
        ("[motor]\nmax_duty = -1\n", "2: [motor] max_duty must be 0.1..1.0, got -1.0"),
        ("[motor]\nhaptics = \"off\"\n", '2: [motor] haptics must be true or false, got "off"'),
        ("[display]\naddress = 0x80\n", "2: [display] address must be 0x03..0x77, got 0x80"),
        ("[display]\nrotation = 90\n", "2: [display] rotation must be 0 or 180, got 90"),
        ("[timeouts]\nsummary_return = 0\n", "2: [timeouts] summary_return must be 5..600, got 0"),
        ("[timeouts]\npause_limit = 5\n", "2: [timeouts] pause_limit must be 30..3600, got 5"),
        ("[session]\nintensity = 6\n", "2: [session] intensity must be 1..5, got 6"),
        ("[session]\nroutine = \"  \"\n", "2: [session] routine must not be empty"),
        ("[sync]\nport = 3\n", "2: [sync] port must be a string, got 3"),
        ("[motor]\nmin_dutty = 0.3\n", "2: [motor] unknown key 'min_dutty'; did you mean 'min_duty'?"),
        ("# typo\n[moter]\npin = 18\n", "2: unknown section [moter]; did you mean [motor]?"),
        ("motor = 3\n", "1: [motor] must be a table, got 3"),
        ("pin = 4\n", "1: 'pin' must be inside a section: [button] or [motor]"),
        ("volume = 4\n", "1: unknown key 'volume' (settings go in sections: [button], [motor], "
                         "[display], [timeouts], [session], [goal], [sync], [battery])"),
        ("[battery]\nenabled = 1\n", "2: [battery] enabled must be true or false, got 1"),
        ("[battery]\naddress = 0x90\n", "2: [battery] address must be 0x03..0x77, got 0x90"),
        ("[battery]\nwarning_percent = 95\n", "2: [battery] warning_percent must be 1..90, got 95"),
        ("[battery]\ncritical_percent = -1\n", "2: [battery] critical_percent must be 0..50, got -1"),
        ("[battery]\nwarning_percent = 10\ncritical_percent = 10\n",
         "3: [battery] critical_percent (10) must be below warning_percent (10)"),
        ("[battery]\nenabled = true\naddress = 0x3C\n", "3: [battery] address and [display] address are both 0x3C"),
        ("[motor]\nmin_duty = 0.8\nmax_duty = 0.6\n",
         "2: [motor] min_duty (0.8) must not be above max_duty (0.6)"),
        ("[timeouts]\ndim_after = 120\noff_after = 120\n",
         "3: [timeouts] off_after (120) must be longer than dim_after (120)"),
        ("[timeouts]\ndim_after = 400\n",
         "2: [timeouts] off_after (300) must be longer than dim_after (400)"),
        ("[button]\npin = 18\n", "2: [button] pin and [motor] pin are both 18"),
        ("motor = 3\n[button]\npin = 18\n", "1: [motor] must be a table, got 3"),
        ("[motor]\npin = 3\n", "2: [motor] pin 3 is taken by the display's I2C bus 1 (GPIO 2 and 3)"),
    ],
)
def test_each_rule_names_file_line_key_and_what_is_allowed(tmp_path, text, expected):
    path = write(tmp_path, text)
    assert config_problems(path) == [f"{path}:{expected}"]


def test_a_problem_carries_its_file_line_and_key_as_fields(tmp_path):
    path = write(tmp_path, "[motor]\npin = 18\nmin_duty = 1.5\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == (
        Problem("[motor] min_duty must be 0.0..1.0, got 1.5", path, 3, ("motor", "min_duty")),)


def test_a_missing_config_names_its_file_and_no_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "gone.toml")
    assert (caught.value.file, caught.value.line, caught.value.what) == (
        tmp_path / "gone.toml", None, "no such config file")


def test_pin_2_is_fine_when_the_display_is_on_another_bus(tmp_path):
    path = write(tmp_path, "[button]\npin = 2\n[display]\nbus = 3\n")
    assert load_config(path).button.pin == 2


def test_every_problem_is_reported_at_once_in_line_order(tmp_path):
    path = write(tmp_path, """
        [motor]
        max_duty = 0.5
        min_duty = 1.5
        haptics = 1

        [button]
        hold = 2
        pin = 2

        [timeouts]
        dim_after = 100
        off_after = 50
        """)
    assert config_problems(path) == [
        f"{path}:3: [motor] min_duty must be 0.0..1.0, got 1.5",
        f"{path}:4: [motor] haptics must be true or false, got 1",
        f"{path}:7: [button] unknown key 'hold'; did you mean 'hold_seconds'?",
        f"{path}:8: [button] pin 2 is taken by the display's I2C bus 1 (GPIO 2 and 3)",
        f"{path}:12: [timeouts] off_after (50) must be longer than dim_after (100)",
    ]


def test_cross_check_is_skipped_when_one_side_is_already_invalid(tmp_path):
    # dim_after = 5000 is out of range; comparing off_after with the default instead
    # would produce a second, misleading message.
    path = write(tmp_path, "[timeouts]\ndim_after = 5000\noff_after = 50\n")
    assert config_problems(path) == [f"{path}:2: [timeouts] dim_after must be 5..3600, got 5000"]


# --- the routine it names, and the config as a file -------------------------------------

def test_the_routine_it_names_must_exist_next_to_it(tmp_path):
    path = write(tmp_path, """
        [session]
        routine = "nosuch"
    """)
    assert load_config(path).session.routine == "nosuch"   # without routines to check against
    with pytest.raises(ConfigError) as caught:
        load_checked_config(path)
    assert str(caught.value) == (
        f"{path}:2: [session] routine must be one of 'daily', 'quick', 'lymphatic', 'evening' "
        f"(or a NAME.toml in {tmp_path / 'routines'}), got \"nosuch\"")
    (tmp_path / "routines").mkdir()
    (tmp_path / "routines" / "nosuch.toml").write_text("")   # broken: skipped at start, not fatal
    assert load_checked_config(path).session.routine == "nosuch"


def test_the_shipped_default_file_passes_the_full_check():
    assert dataclasses.replace(load_checked_config(DEFAULTS_FILE), source=None) == Config()


def _configs():
    from hypothesis import strategies as st

    def section(kind):
        values = {}
        for item in dataclasses.fields(kind):
            rule = item.metadata["rule"]
            if rule.choices:
                values[item.name] = st.sampled_from(rule.choices)
            elif rule.kind is bool:
                values[item.name] = st.booleans()
            elif rule.kind is int:
                values[item.name] = st.integers(int(rule.low), int(rule.high))
            elif rule.kind is float:
                values[item.name] = st.floats(rule.low, rule.high)
            else:
                values[item.name] = st.text(min_size=1).filter(str.strip)
        return st.builds(kind, **values)

    return st.builds(Config, **{name: section(kind) for name, kind in SECTIONS.items()})


def test_config_as_a_file_reads_back_as_the_same_settings(tmp_path):
    """`facepace config show` prints a file that gives the same settings, whatever the strings hold."""
    from hypothesis import given, settings

    @settings(derandomize=True, deadline=None, max_examples=100)
    @given(_configs())
    def round_trip(config):
        data = parse_toml(as_toml(config).encode(), tmp_path / "shown.toml").data
        expected = dataclasses.asdict(config)
        del expected["source"]
        assert data == expected
        assert all(type(data[s][k]) is type(v) for s, table in expected.items() for k, v in table.items())

    round_trip()
