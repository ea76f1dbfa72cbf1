"""systemd/facepace-export.sh with mount, umount, sync and setpriv replaced by recording fakes.

Those commands are not ours; the fakes record the order of calls and run the export command, so
the test checks the script's own logic: mount first, export as the service user into the mount,
flush and unmount before "done", always unmount, and report each outcome to the firmware.
"""

from __future__ import annotations

import getpass
import os
import signal
import time
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "systemd" / "facepace-export.sh"

FAKES = {
    "mount": 'echo "mount $*" >> "$CALLS"; [ -z "${FAIL_MOUNT:-}" ]',
    "umount": 'echo "umount $*" >> "$CALLS"',
    "sync": 'echo "sync $*" >> "$CALLS"',
    # setpriv: record, then run what follows `--`, as the real one would after dropping privileges.
    "setpriv": 'echo "setpriv $*" >> "$CALLS"; while [ "$1" != -- ]; do shift; done; shift; exec "$@"',
    "facepace": 'echo "facepace $* state=$FACEPACE_STATE_DIR" >> "$CALLS"; echo "writing files"; '
    '[ -z "${HANG:-}" ] || { touch "$CALLS.hanging"; sleep 30; }; '
    # As the real one: key=value lines only when asked for them.
    'case " $* " in *" --porcelain "*) echo "sessions=42";; *) echo "Exported 42 sessions";; esac; '
    'exit "${EXPORT_EXIT:-0}"',
}


@pytest.fixture
def env(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (tmp_path / "run").mkdir()
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls"),
        "FACEPACE_RUNTIME_DIR": str(tmp_path / "run"),
        "FACEPACE_STATE_DIR": str(tmp_path / "state"),
        "FACEPACE_BIN": str(bin_dir / "facepace"),
        "FACEPACE_USER": getpass.getuser(),
        "FACEPACE_DEV_DIR": "/dev",
        "RUNTIME_DIRECTORY": str(tmp_path / "mnt"),
    }


def run(env, device="sda1", **extra):
    return subprocess.run(["sh", str(SCRIPT), device], env={**env, **extra}, capture_output=True, text=True, timeout=30)


def status(env) -> dict[str, str]:
    text = (Path(env["FACEPACE_RUNTIME_DIR"]) / "export-status").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def calls(env) -> list[str]:
    return Path(env["CALLS"]).read_text().splitlines()


def test_mounts_exports_as_the_user_flushes_unmounts_then_reports_done(env):
    result = run(env)
    assert result.returncode == 0, result.stderr
    mnt = env["RUNTIME_DIRECTORY"]
    user = env["FACEPACE_USER"]
    uid, gid = os.getuid(), os.getgid()
    assert calls(env) == [
        f"mount -o nosuid,nodev,noexec,noatime,uid={uid},gid={gid},umask=0077 /dev/sda1 {mnt}",
        f"setpriv --reuid={user} --regid={user} --init-groups --reset-env -- env "
        f"FACEPACE_STATE_DIR={env['FACEPACE_STATE_DIR']} FACEPACE_RUNTIME_DIR={env['FACEPACE_RUNTIME_DIR']} "
        f"{env['FACEPACE_BIN']} export --porcelain --to {mnt}",
        f"facepace export --porcelain --to {mnt} state={env['FACEPACE_STATE_DIR']}",
        f"sync -f {mnt}",
        f"umount {mnt}",
    ]
    report = status(env)
    assert (report["state"], report["device"], report["sessions"], report["error"]) == ("done", "sda1", "42", "")
    assert not list(Path(env["FACEPACE_RUNTIME_DIR"]).glob(".export-status.*"))  # no temp file left


def test_a_failed_export_still_flushes_and_unmounts(env):
    result = run(env, EXPORT_EXIT="3")
    assert result.returncode == 1
    assert calls(env)[-2:] == [f"sync -f {env['RUNTIME_DIRECTORY']}", f"umount {env['RUNTIME_DIRECTORY']}"]
    assert status(env)["state"] == "failed"
    assert status(env)["error"] == "export failed (exit 3)"


def test_an_unmountable_drive_is_reported_and_nothing_runs(env):
    result = run(env, FAIL_MOUNT="1")
    assert result.returncode == 1
    assert [call.split()[0] for call in calls(env)] == ["mount"]
    assert status(env)["error"] == "cannot mount the drive"


def test_without_the_firmware_running_the_export_still_happens(env):
    Path(env["FACEPACE_RUNTIME_DIR"]).rmdir()
    result = run(env)
    assert result.returncode == 0, result.stderr
    assert "firmware not running" in result.stdout
    assert any(call.startswith("umount") for call in calls(env))


@pytest.mark.parametrize("device", ["../sda1", "sda1;reboot", "SDA1"])
def test_device_names_are_checked(env, device):
    assert run(env, device=device).returncode == 2
    assert not Path(env["CALLS"]).exists()


def test_drive_pulled_out_mid_export_unmounts_and_reports_failure(env):
    """BindsTo=dev-%i.device: systemd sends SIGTERM to the whole unit when the drive goes."""
    script = subprocess.Popen(["sh", str(SCRIPT), "sda1"], env={**env, "HANG": "1"}, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hanging = Path(env["CALLS"] + ".hanging")
    deadline = time.monotonic() + 10
    while not hanging.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(script.pid, signal.SIGTERM)
    script.communicate(timeout=10)
    assert script.returncode == 1
    assert calls(env)[-1] == f"umount -l {env['RUNTIME_DIRECTORY']}"
    assert status(env)["error"] == "drive removed during export"


def test_the_real_export_command_tells_the_script_how_many_sessions(env, tmp_path):
    """The script and `facepace export` agree on the key=value interface."""
    from device.log.sessionlog import SessionLog
    from tests.support.sync_testing import record_sessions

    real = Path(sys.executable).with_name("facepace")   # the installed entry point
    if not real.exists():
        pytest.skip(f"no {real}: install the package (make .venv/.installed)")
    with SessionLog.open(Path(env["FACEPACE_STATE_DIR"]) / "sessions.db", clock_synced=lambda: True) as log:
        record_sessions(log, 3)
    result = run({**env, "FACEPACE_BIN": str(real)})
    assert result.returncode == 0, result.stderr
    assert status(env)["state"] == "done" and status(env)["sessions"] == "3"
    assert "exported 3 sessions; safe to remove" in result.stdout
    assert list(Path(env["RUNTIME_DIRECTORY"]).glob("facepace/*/sessions.csv"))
