"""`facepace run` and `sim` start without the other commands' modules: on the Pi's budget each
import is felt before the first frame (bench/pi_budget.py measures it)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from device.cli.main import build_parser, command_named

REPO = Path(__file__).resolve().parents[3]
NOT_AT_START = ("companion", "device.cli.log", "device.cli.routines", "device.cli.config", "device.cli.serve",
                "platformdirs")


@pytest.mark.parametrize("argv, command", [
    (["run"], "run"), (["-v", "sim", "--headless"], "sim"), (["--config", "run.toml", "log"], "log"),
    (["--config=sim", "run"], "run"), (["--help"], None), ([], None)])
def test_the_command_word_skips_options_and_the_config_value(argv, command):
    assert command_named(argv) == command


def test_run_and_sim_import_no_other_command_and_no_platformdirs():
    probe = ("import sys\n"
             "from device.cli.main import build_parser\n"
             "from device.settings.paths import state_dir\n"
             "build_parser(['--config', 'x.toml', 'run']); build_parser(['sim', '--headless']); state_dir()\n"
             f"print(sorted(m for m in sys.modules if m.startswith({NOT_AT_START!r})))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO), "STATE_DIRECTORY": "/var/lib/facepace"})
    assert result.stdout == "[]\n", result.stdout + result.stderr


def subcommands(parser) -> set[str]:
    return {name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name in action.choices}


def test_every_other_command_is_still_there():
    everything = {"run", "sim", "selftest", "log", "stats", "routines", "config", "sync-serve", "export", "sync", "history", "report"}
    assert subcommands(build_parser(["log"])) >= everything
    assert subcommands(build_parser([])) >= everything          # `facepace --help` lists them all
    assert subcommands(build_parser(["run"])) == {"run", "sim", "selftest"}
