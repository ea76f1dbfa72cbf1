"""`facepace routines push|pull|remove|order` and `facepace settings show|set` (issue 13), the
real command in a child process on one end of a pty pair, the device's sync server with its
`OwnerDesk` on the other; the person's press is the desk's `ask` callback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from device.log.sessionlog import SessionLog
from device.settings.config import Config
from device.settings.owner import Owned
from device.settings.ownerstore import OwnerStore
from device.settings.routines import BUILTIN_DIR, load_library
from device.sync.ownerdesk import OwnerDesk
from device.sync.server import SyncServer
from tests.support.sync_testing import PtyLink
from tests.support.toml_documents import EVENING_CALM

REPO = Path(__file__).resolve().parents[2]
MINE = EVENING_CALM


class Device:
    def __init__(self, tmp_path: Path, port: str) -> None:
        self.answer = "accept"
        self.prompts: list[str] = []
        self.store = OwnerStore(tmp_path / "owner")
        self.desk = OwnerDesk(self.store, base=Config(), others=list(load_library(None).routines), ask=self.ask)
        self.log = SessionLog.open(tmp_path / "device" / "sessions.db", clock_synced=lambda: True)
        self.server = SyncServer(port, self.log, owner=self.desk, reopen_delay=0.05).start()
        assert self.server.serving.wait(60)

    def ask(self, question) -> None:
        self.prompts.append(question.prompt)
        getattr(question, self.answer)()

    def close(self) -> None:
        self.server.close()
        self.log.close()


@pytest.fixture
def device(tmp_path):
    with PtyLink() as link:
        made = Device(tmp_path, link.device_port)
        made.port = link.host_port
        yield made
        made.close()


def facepace(device: Device, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "device", *argv, "--port", device.port], cwd=REPO,
                          capture_output=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_push_asks_on_the_device_and_says_what_changed(device, tmp_path):
    mine = tmp_path / "evening-calm.toml"
    mine.write_text(MINE)
    pushed = facepace(device, "routines", "push", str(mine))
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.decode() == "Routine 'evening-calm' (Evening calm) is on the device.\n"
    assert b"Press the button on the device to accept" in pushed.stderr
    assert device.prompts == ["Add routine 'Evening calm' 6:00"]
    assert device.store.load().owned.routines == {"evening-calm": MINE.encode()}

    again = facepace(device, "routines", "push", str(mine))
    assert again.stdout.decode() == ("The device already has routine 'evening-calm' with this content:"
                                     " nothing changed.\n")
    assert len(device.prompts) == 1

    pulled = facepace(device, "routines", "pull", "evening-calm")
    assert pulled.stdout == MINE.encode()
    assert facepace(device, "routines", "pull", "daily").stdout == (BUILTIN_DIR / "daily.toml").read_bytes()


def test_a_hold_refuses_and_a_bad_file_is_never_sent(device, tmp_path):
    device.answer = "refuse"
    mine = tmp_path / "mine.toml"
    mine.write_text(MINE)
    refused = facepace(device, "routines", "push", str(mine))
    assert refused.returncode == 1 and refused.stderr.decode().endswith(
        "facepace: refused on the device: nothing changed\n")
    bad = tmp_path / "bad.toml"
    bad.write_text(MINE.replace("seconds = 360", "seconds = 0"))
    rejected = facepace(device, "routines", "push", str(bad))
    assert rejected.returncode == 1
    assert f"{bad}:7: zone 'cheeks': seconds must be 5..600, got 0".encode() in rejected.stderr
    escape = facepace(device, "routines", "push", str(mine), "--name", "../../etc/x")
    assert escape.returncode == 2 and b"cannot name a routine on the device" in escape.stderr
    assert device.prompts == ["Add routine 'Evening calm' 6:00"] and device.store.load().owned == Owned()


def test_order_remove_and_settings(device, tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text(MINE)
    assert facepace(device, "routines", "push", str(mine)).returncode == 0
    ordered = facepace(device, "routines", "order", "mine", "quick")
    assert ordered.stdout.decode() == "The double press offers: mine, quick\n"
    changed = facepace(device, "settings", "set", "haptics=false", "dim_after=90", "time_zone=Europe/Paris")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.decode().splitlines() == [
        "haptics: true -> false", "dim_after: 60 -> 90", 'time_zone: (not set) -> "Europe/Paris"']
    shown = facepace(device, "settings", "show").stdout.decode().splitlines()
    assert shown[4].split() == ["dim_after", "90", "5..3600", "set", "from", "the", "computer"]
    assert shown[5].split() == ["off_after", "300", "10..86400"]
    wrong = facepace(device, "settings", "set", "dim_after=1")
    assert wrong.returncode == 2 and b"dim_after must be 5..3600, got 1" in wrong.stderr
    unknown_zone = facepace(device, "settings", "set", "time_zone=Mars/Olympus")
    assert unknown_zone.returncode == 1
    assert b"settings.toml:5: time_zone must be a time zone this device knows" in unknown_zone.stderr
    removed = facepace(device, "routines", "remove", "mine")
    assert removed.stdout.decode() == "Routine 'mine' is removed from the device.\n"
    owned = device.store.load().owned
    assert owned.routines == {} and owned.settings["routine_order"] == ["quick"]
    builtin = facepace(device, "routines", "remove", "daily")
    assert builtin.returncode == 1 and b"'daily' is built in: it cannot be removed" in builtin.stderr


def test_goal_settings_and_a_rest_from_the_computer(device):
    from datetime import date, timedelta

    days_before = date.today()
    changed = facepace(device, "settings", "set", "weekly_goal=4", "rest_days=7", "anchor=After brushing teeth")
    assert changed.returncode == 0, changed.stderr
    owned = device.store.load().owned.settings
    today = next(day for day in (days_before, date.today()) if owned["rest_periods"][0].startswith(day.isoformat()))
    assert owned["weekly_goal"] == 4 and owned["anchor"] == "After brushing teeth"
    assert owned["rest_periods"] == [f"{today}/{today + timedelta(days=6)}"]
    until = today + timedelta(days=20)
    assert facepace(device, "settings", "set", f"rest_until={until}").returncode == 0
    assert device.store.load().owned.settings["rest_periods"] == [f"{today}/{until}"]
    assert facepace(device, "settings", "set", "rest_days=0").returncode == 0   # began today: gone
    assert device.store.load().owned.settings["rest_periods"] == []
    wrong = facepace(device, "settings", "set", "rest_until=soon", "weekly_goal=8")
    assert wrong.returncode == 2 and b"rest_until must be a date like 2026-12-14" in wrong.stderr
    too_much = facepace(device, "settings", "set", "weekly_goal=8")
    assert too_much.returncode == 2 and b"weekly_goal must be 1..7, got 8" in too_much.stderr
