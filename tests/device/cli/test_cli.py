"""The `facepace` command line as a person meets it: device.cli.main.main, its output and exit codes."""

from __future__ import annotations

import dataclasses
import json
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from device.cli import main as cli
from device.settings import paths
from device.settings.config import Config, load_config
from device.log.logdb import SessionRecord, ZoneProgress
from device.sync import protocol
from companion.hostdb import HostDb

EX_CONFIG = 78


@pytest.fixture(autouse=True)
def no_device_config(tmp_path, monkeypatch):
    """Whatever this machine has in /etc, the tests choose the config."""
    monkeypatch.setattr(paths, "DEVICE_CONFIG", tmp_path / "etc" / "config.toml")
    monkeypatch.setenv("FACEPACE_STATE_DIR", str(tmp_path / "state"))


def facepace(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# --- The config reaches every command that reads it ---------------------------------------

def test_a_routine_in_the_config_that_does_not_exist_is_a_config_error(tmp_path, capsys):
    config = write(tmp_path / "config.toml", """
        [session]
        intensity = 2
        routine = "nosuch"
    """)
    code, _, err = facepace(capsys, "config", "check", config)
    assert code == EX_CONFIG
    assert err.splitlines() == [
        f"{config}:3: [session] routine must be one of 'daily', 'quick', 'lymphatic', 'evening' "
        f"(or a NAME.toml in {tmp_path / 'routines'}), got \"nosuch\""]


@pytest.mark.parametrize("command", [["run"], ["sim", "--headless", "--speed", "max"], ["routines", "list"]])
def test_the_device_does_not_start_on_a_routine_that_does_not_exist(tmp_path, capsys, command):
    config = write(tmp_path / "config.toml", '[session]\nroutine = "nosuch"\n')
    code, out, err = facepace(capsys, "--config", config, *command)
    assert (code, out) == (EX_CONFIG, "")
    assert err.startswith(f"{config}:2: [session] routine must be one of 'daily', 'quick'")


def test_a_routine_file_next_to_the_config_may_be_named_even_when_it_is_broken(tmp_path, capsys):
    """A broken routine is skipped at start and shown; it must not stop the device."""
    config = write(tmp_path / "config.toml", '[session]\nroutine = "mine"\n')
    write(tmp_path / "routines" / "mine.toml", 'title = "Mine"\n')
    assert facepace(capsys, "config", "check", config)[:2] == (0, f"{config}: ok\n")


@pytest.mark.parametrize("command", [
    ["routines", "list"], ["routines", "show", "daily"], ["config", "show"], ["config", "check"],
    ["sync-serve"], ["run"], ["sim", "--headless"],
])
def test_every_command_that_reads_the_config_stops_on_a_missing_one(tmp_path, capsys, command):
    missing = tmp_path / "nonexistent.toml"
    code, out, err = facepace(capsys, "--config", missing, *command)
    assert (code, out, err) == (EX_CONFIG, "", f"{missing}: no such config file\n")


@pytest.mark.parametrize("command", [["routines", "list"], ["config", "show"], ["sync-serve"]])
def test_every_command_that_reads_the_config_stops_on_a_bad_one_as_run_does(tmp_path, capsys, command):
    config = write(tmp_path / "config.toml", "[motor]\nmin_duty = 1.5\n")
    code, out, err = facepace(capsys, "--config", config, *command)
    assert (code, out) == (EX_CONFIG, "")
    assert err == f"{config}:2: [motor] min_duty must be 0.0..1.0, got 1.5\n"


def test_config_check_reports_every_error_at_once_as_file_and_line(tmp_path, capsys):
    config = write(tmp_path / "config.toml", """
        [button]
        pin = 40
        [display]
        rotation = 90
        [session]
        routine = "dialy"
    """)
    code, out, err = facepace(capsys, "config", "check", config)
    assert code == EX_CONFIG and out == ""
    lines = err.splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{config}:2", f"{config}:4", f"{config}:6"]
    assert "[button] pin must be 0..27, got 40" in lines[0]
    assert "[display] rotation must be 0 or 180, got 90" in lines[1]


def test_config_check_without_a_file_checks_the_config_in_use(tmp_path, capsys):
    code, out, _ = facepace(capsys, "config", "check")
    assert code == 0 and "built-in defaults are in use" in out
    write(paths.DEVICE_CONFIG, "[timeouts]\ndim_after = 1\n")
    code, _, err = facepace(capsys, "config", "check")
    assert code == EX_CONFIG and err.startswith(f"{paths.DEVICE_CONFIG}:2: [timeouts] dim_after")


def test_config_show_prints_the_config_in_use_with_defaults_and_its_file(tmp_path, capsys):
    config = write(tmp_path / "config.toml", "[motor]\npin = 22\n[session]\nroutine = \"quick\"\n")
    code, out, _ = facepace(capsys, "config", "show", "--config", config)
    assert code == 0
    assert out.splitlines()[0] == f"# From {config}; a setting it leaves out has its default."
    assert "pin = 22  # default: 18" in out.splitlines() and "pin = 17" in out.splitlines()
    assert "address = 0x3C" in out.splitlines()
    # It is a config file that gives the same settings back.
    shown = write(tmp_path / "shown" / "config.toml", out)
    assert dataclasses.replace(load_config(shown), source=None) == \
        dataclasses.replace(load_config(config), source=None)
    assert tomllib.loads(out)["motor"]["pin"] == 22


def test_config_show_says_when_the_defaults_are_in_use(capsys):
    code, out, _ = facepace(capsys, "config", "show")
    assert code == 0 and out.startswith(f"# The built-in defaults: there is no {paths.DEVICE_CONFIG}")
    assert load_config(None) == Config() and "=" not in out.splitlines()[0]
    assert "  # default" not in out


# --- Global options after the command, usage errors -----------------------------------------

def user_routine_setup(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    write(folder / "routines" / f"{name}.toml", f"""
        title = "{name.title()}"
        [[zones]]
        id = "neck"
        title = "Neck"
        cue = "Stroke down"
        seconds = 30
        tempo = 40
        intensity = 3
        sides = 1
    """)
    return write(folder / "config.toml", "")


def listed_names(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()]


def test_global_options_work_after_the_command(tmp_path, capsys):
    config = user_routine_setup(tmp_path, "mine")
    for argv in (["--config", config, "routines", "list"], ["routines", "list", "--config", config],
                 ["routines", "--config", config, "list"]):
        code, out, err = facepace(capsys, *argv)
        assert code == 0, err
        assert listed_names(out)[-1] == "mine", argv
    code, _, err = facepace(capsys, "routines", "list", "--config", tmp_path / "nonexistent.toml")
    assert code == EX_CONFIG


def test_config_given_before_and_after_the_command_the_later_one_wins(tmp_path, capsys):
    first, second = user_routine_setup(tmp_path, "first"), user_routine_setup(tmp_path, "second")
    code, out, _ = facepace(capsys, "--config", first, "routines", "list", "--config", second)
    assert code == 0 and "second" in listed_names(out) and "first" not in listed_names(out)


def test_verbose_after_the_command(capsys):
    assert facepace(capsys, "log", "-v")[0] == 0


@pytest.mark.parametrize("argv", [[], ["nosuch"], ["log", "--bogus"], ["report"], ["routines"],
                                  ["log", "--limit", "x"], ["sync", "--timeout", "-1"]])
def test_usage_errors_exit_2_with_the_usage(capsys, argv):
    code, out, err = facepace(capsys, *argv)
    assert code == 2 and out == "" and "usage: facepace" in err


@pytest.mark.parametrize("option", [["--speed", "fast"], ["--script", "1:poke"]])
def test_a_sim_option_it_cannot_use_is_a_usage_error_too(capsys, option):
    code, out, err = facepace(capsys, "sim", "--headless", *option)
    assert (code, out) == (2, "") and err.startswith(f"facepace sim: {option[0]}")


# --- History and report of a device that is not there ---------------------------------------

def synced(db_path: Path, *device_ids: str) -> None:
    with HostDb.open(db_path) as db:
        for number, device_id in enumerate(device_ids):
            record = SessionRecord(
                id=f"s-{number}", device_id=device_id, routine_name="daily", routine_hash="h",
                intensity=3, wall_start=1_717_000_000.0 + number, wall_trusted=number == 0,
                boot_id="boot", mono_start=5.0, active_seconds=60.0, outcome="completed",
                wall_end=1_717_000_060.0, wall_checkpoint=1_717_000_060.0, mono_end=65.0, seq=1,
                zones=(ZoneProgress("neck", 60.0, 60.0, False),))
            db.note_device(device_id, "0.1.0", 1_717_000_000.0)
            quality = "clock" if record.wall_trusted else "estimated"
            db.store_batch(device_id, "log-1", [(record, quality)], 1)


@pytest.mark.parametrize("command", [["history"], ["history", "--json"], ["history", "--csv"],
                                     ["report", "--out", "{out}"]])
def test_an_unknown_device_is_named_with_the_ones_that_are_known(tmp_path, capsys, command):
    db = tmp_path / "synced.db"
    synced(db, "fp-alpha", "fp-beta")
    out_file = tmp_path / "report.png"
    argv = [arg.format(out=out_file) for arg in command]
    code, out, err = facepace(capsys, *argv, "--db", db, "--device", "nosuch")
    assert (code, out) == (1, "")
    assert err == f"facepace: no device 'nosuch' in {db}; the devices synced here: fp-alpha, fp-beta\n"
    assert not out_file.exists()
    assert facepace(capsys, *argv, "--db", db, "--device", "fp-beta")[0] == 0


def test_an_unknown_device_in_an_empty_database_says_to_sync_first(tmp_path, capsys):
    code, _, err = facepace(capsys, "history", "--db", tmp_path / "synced.db", "--device", "nosuch")
    assert code == 1 and "no device has been synced here yet: run 'facepace sync'" in err


# --- The "?" after a date -------------------------------------------------------------------

def test_the_question_mark_after_an_estimated_date_is_explained_under_the_table(tmp_path, capsys,
                                                                                  monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    db = tmp_path / "synced.db"
    synced(db, "fp-alpha", "fp-beta")   # fp-beta's date is estimated
    code, out, _ = facepace(capsys, "history", "--db", db)
    lines = out.splitlines()
    assert code == 0 and lines[1].startswith("2024-05-29 16:26?") and lines[2][16] == " "
    assert lines[3] == "" and lines[4].startswith("? after a date: estimated. The device's clock")
    # A date not estimated: no note, just the table, then the weekly goal after a blank line.
    table, goal = facepace(capsys, "history", "--db", db, "--device", "fp-alpha")[1].split("\n\n")
    assert table.count("\n") == 1 and goal.startswith("This week: ") and "?" not in goal
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("command", ["log", "history"])
def test_help_explains_the_question_mark(capsys, command):
    code, out, _ = facepace(capsys, command, "--help")
    assert code == 0 and "? after a date: estimated." in " ".join(out.split())


# --- Help a person can learn from -----------------------------------------------------------

def test_the_top_level_help_says_what_the_tool_is_and_what_each_command_does(capsys):
    code, out, _ = facepace(capsys, "--help")
    assert code == 0
    assert "facial-massage device" in out and "The `facepace` command." not in out
    commands = out.split("  COMMAND\n")[1].split("\n\n")[0].splitlines()
    described = {line.split()[0]: line.split(None, 1)[1] for line in commands if line.strip()}
    assert set(described) >= {"run", "sim", "routines", "config", "log", "stats", "sync",
                              "sync-serve", "history", "report", "export"}


@pytest.mark.parametrize("command", [["run"], ["sim"], ["routines"], ["routines", "list"],
                                     ["routines", "check"], ["config"], ["config", "check"],
                                     ["config", "show"], ["log"], ["stats"], ["sync"], ["sync-serve"],
                                     ["history"], ["report"], ["export"]])
def test_every_command_describes_itself(capsys, command):
    code, out, _ = facepace(capsys, *command, "--help")
    usage, description = out.split("\n\n")[:2]
    assert code == 0 and usage.startswith(f"usage: facepace {' '.join(command)}")
    assert len(description.split()) >= 6, description


def test_options_have_help_and_default_paths_are_shown(capsys):
    from companion.hostdb import default_path

    def unwrapped(text: str) -> str:   # argparse wraps long paths at their hyphens
        return "".join(text.split())

    out = unwrapped(facepace(capsys, "report", "--help")[1])
    assert "--outFILEthepicturetowrite:FILE.pngorFILE.jpg" in out
    assert unwrapped(f"(default: {default_path()})") in out
    assert unwrapped(f"(default: {paths.DEVICE_CONFIG}") in unwrapped(facepace(capsys, "--help")[1])
