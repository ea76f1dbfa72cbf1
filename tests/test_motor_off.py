"""After any stop, the unit drives the configured motor pin low with pinctrl."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def fake_pinctrl(folder: Path) -> Path:
    """A stand-in for Raspberry Pi OS's pinctrl that records its arguments."""
    script = folder / "pinctrl"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/calls"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder / "calls"


def run_motor_off(tmp_path, config_text: str | None, with_pinctrl: bool = True):
    config = tmp_path / "config.toml"
    if config_text is not None:
        config.write_text(config_text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = fake_pinctrl(bin_dir) if with_pinctrl else bin_dir / "calls"
    code = (f"import sys; from pathlib import Path; from device import motor_off; "
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


def test_without_pinctrl_it_says_so_and_succeeds(tmp_path):
    result, calls = run_motor_off(tmp_path, None, with_pinctrl=False)
    assert result.returncode == 0 and "no pinctrl" in result.stderr and calls == ""


def test_the_unit_runs_it_after_every_stop():
    unit = (ROOT / "systemd" / "facepace.service").read_text()
    assert "ExecStopPost=-+/usr/bin/env --chdir=/ /opt/facepace/venv/bin/python -I -m device.motor_off" in unit
