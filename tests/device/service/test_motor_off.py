"""After any stop, the unit drives the configured motor pin low with pinctrl."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]


def fake_pinctrl(folder: Path) -> Path:
    """A stand-in for Raspberry Pi OS's pinctrl that records its arguments."""
    script = folder / "pinctrl"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/calls"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder / "calls"


def run_motor_off(tmp_path, config_text: str | bytes | None, with_pinctrl: bool = True):
    config = tmp_path / "config.toml"
    if isinstance(config_text, bytes):
        config.write_bytes(config_text)
    elif config_text is not None:
        config.write_text(config_text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = fake_pinctrl(bin_dir) if with_pinctrl else bin_dir / "calls"
    code = (f"import sys; from pathlib import Path; from device.service import motor_off; "
            f"sys.exit(motor_off.main(Path({str(config)!r})))")
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin" if with_pinctrl else "/nonexistent")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    return result, (calls.read_text() if calls.exists() else "")


def test_the_configured_pin_is_driven_low(tmp_path):
    result, calls = run_motor_off(tmp_path, "[motor]\npin = 23\n")
    assert result.returncode == 0 and calls == "set 23 op dl\n"


def test_no_config_means_the_default_pin(tmp_path):
    result, calls = run_motor_off(tmp_path, None)
    assert calls == "set 18 op dl\n"


def test_a_bad_config_still_stops_the_default_pin(tmp_path):
    result, calls = run_motor_off(tmp_path, "[motor]\npin = 99\n")
    assert calls == "set 18 op dl\n"
    assert "GPIO 18 driven low; pin: the default, as the config cannot be used: " in result.stderr
    assert "pin must be 0..27, got 99" in result.stderr


def test_a_valid_pin_in_a_config_with_other_problems_is_the_one_driven_low(tmp_path):
    # Edited while the firmware ran on the good version: the motor is on pin 23.
    result, calls = run_motor_off(tmp_path, "[motor]\npin = 23\nmin_duty = 1.5\n")
    assert calls == "set 23 op dl\n" and "GPIO 23 driven low" in result.stderr


# Everything that once made the safety net crash before it drove anything (issue 10), and the
# pin driven: the configured one when the file is TOML that names a valid one, else the default.
HOSTILE_CONFIGS = {
    "10 MB": (b"[motor]\npin = 23\n" + b"x = 1\n" * 1_800_000, 18),
    "deep nesting": (b"[motor]\npin = 23\nx = " + b"[" * 500 + b"]" * 500 + b"\n", 18),
    "5000 digits": (b"[motor]\npin = 23\nx = " + b"9" * 5000 + b"\n", 18),
    "not UTF-8": (b"[motor]\npin = 23\nx = \"\xff\"\n", 18),
    "not TOML": (b"[motor\npin = 23\n", 18),
    "escaped quote": (b'[motor]\npin = 23\nx = """a\\"""\n"bad\n"""\n', 23),   # valid TOML, unknown key
}


@pytest.mark.parametrize(("content", "pin"), HOSTILE_CONFIGS.values(), ids=HOSTILE_CONFIGS)
def test_whatever_the_config_holds_a_pin_is_driven_low_and_named(tmp_path, content, pin):
    result, calls = run_motor_off(tmp_path, content)
    assert calls == f"set {pin} op dl\n", result.stderr
    assert result.returncode == 0 and f"GPIO {pin} driven low" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr) < 1000


def test_an_unreadable_config_still_stops_the_default_pin(tmp_path):
    (tmp_path / "config.toml").mkdir()   # root reads any file; a folder cannot be read as one
    result, calls = run_motor_off(tmp_path, None)
    assert calls == "set 18 op dl\n" and "GPIO 18 driven low; pin: the default" in result.stderr


def test_without_pinctrl_it_says_so_and_succeeds(tmp_path):
    result, calls = run_motor_off(tmp_path, None, with_pinctrl=False)
    assert result.returncode == 0 and "no pinctrl" in result.stderr and calls == ""


def test_the_unit_runs_it_after_every_stop():
    unit = (ROOT / "systemd" / "facepace.service").read_text()
    assert "ExecStopPost=-+/usr/bin/env --chdir=/ /opt/facepace/venv/bin/python -I -m device.service.motor_off" in unit
