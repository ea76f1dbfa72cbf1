"""The README's tables must say what the code does."""

from pathlib import Path

from device.core.haptics import PATTERNS, rhythm_text
from device.settings.routines import load_library

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_haptic_table_matches_the_patterns():
    for name, pattern in PATTERNS.items():
        if pattern.pulses:
            assert f"| {name} | {rhythm_text(pattern)} | {pattern.meaning} |" in README, name


def test_routine_table_matches_the_built_ins():
    for routine in load_library(None).routines:
        minutes, seconds = divmod(routine.total_seconds, 60)
        assert f"| {routine.name} | {minutes}:{seconds:02d} |" in README, routine.name


def test_screen_pictures_exist():
    for line in README.splitlines():
        if "](docs/screens/" in line:
            for part in line.split("](")[1:]:
                assert (Path(__file__).parent.parent / part.split(")")[0]).exists(), part


def test_a_reader_looking_for_rpi_gpio_learns_what_provides_it():
    import tomllib

    extras = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert any(need.startswith("rpi-lgpio") for need in extras["project"]["optional-dependencies"]["pi"])
    wiring = README.split("## Wiring")[1].split("\n## ")[0]
    assert "RPi.GPIO" in wiring and "rpi-lgpio" in wiring and "Pi 5" in wiring
