"""The sync in its own process: the real `facepace run` (tests/support/firmware_child.py: mock pins,
fake panel) and the real `facepace sync-serve`, each a child process, a computer syncing over a
pty pair, and the channel's real sockets between them. Every wait is for a line in a child's
log, with a generous guard; nothing is timed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from companion.hostdb import HostDb
from companion.sync_client import Link, open_device, sync
from device.log.sessionlog import SessionLog
from device.settings.ownerstore import OwnerStore
from device.sync.ownerdesk import ANSWER_WITHIN
from device.sync import protocol as p
from tests.support.sync_testing import PtyLink, record_sessions

REPO = Path(__file__).resolve().parents[3]
FIRMWARE_CHILD = REPO / "tests" / "support" / "firmware_child.py"
GUARD = 60.0                 # seconds: a safety net so a broken build fails instead of hanging
RECORDED = 40                # sessions in the log before anything starts
THREE_DAYS = 3 * 86400.0     # how far ahead the computer's clock is
FIRMWARE_HELLO = "firmware (re)started"                               # in the sync's log
CLOCK_ADOPTED = "clock set by a host through the sync service"       # in the firmware's log
MINE = """\
title = "Evening calm"

[[zones]]
id = "cheeks"
title = "Cheeks"
cue = "Slow circles"
seconds = 360
tempo = 30
intensity = 3
sides = 1
"""
QUESTION = "question prompt=Add routine 'Evening calm' 6:00"          # the firmware's trace, in its log


class Child:
    """A child process whose stderr is read on a thread, so a test can wait for a line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def count(self, text: str) -> int:
        with self._changed:
            return sum(text in line for line in self.lines)

    def wait_for(self, text: str, times: int = 1) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.count(text) >= times, GUARD):
                raise AssertionError(f"no {text!r} (x{times}) within {GUARD} s; log:\n{''.join(self.lines)}")

    def text_so_far(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def text(self) -> str:
        self._reader.join(GUARD)
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class Device:
    """The two processes of a device, on a state folder and two runtime folders of their own,
    and a computer on the other end of a pty pair."""

    def __init__(self, folder: Path, link: PtyLink) -> None:
        self.folder = folder
        self.link = link
        self.state = folder / "state"
        self.children: list[Child] = []
        for name in ("state", "run", "sync-run"):
            (folder / name).mkdir(exist_ok=True)
        self.env = dict(os.environ, FACEPACE_STATE_DIR=str(self.state), PYTHONPATH=str(REPO),
                        FACEPACE_FIRMWARE_SOCKET=str(folder / "run" / "firmware.sock"),
                        FACEPACE_SYNC_SOCKET=str(folder / "sync-run" / "sync.sock"))
        for variable in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            self.env.pop(variable, None)

    def start_sync(self, *, idle_timeout: float = 1.0) -> Child:
        """`idle_timeout`: how soon a silent computer's sync ends as "Sync timed out"."""
        child = Child([sys.executable, "-m", "device", "sync-serve", "--port", self.link.device_port,
                       "--idle-timeout", str(idle_timeout)],
                      dict(self.env, RUNTIME_DIRECTORY=str(self.folder / "sync-run")))
        self.children.append(child)
        child.wait_for("serving sync on")
        return child

    def start_firmware(self, **extra_env: str) -> Child:
        child = Child([sys.executable, str(FIRMWARE_CHILD)],
                      dict(self.env, RUNTIME_DIRECTORY=str(self.folder / "run"), **extra_env))
        self.children.append(child)
        return child

    def sync(self, *, ahead: float = THREE_DAYS):
        """A whole `facepace sync` from a computer whose clock is `ahead` seconds in the future."""
        with open_device(self.link.host_port) as port, HostDb.open(self.folder / "host.db") as db:
            return sync(port, db, timeout=GUARD, utc=lambda: time.time() + ahead)

    def begin_a_sync_and_go_silent(self) -> None:
        """HELLO and the first PULL (the device now shows "Syncing 0/N"), then nothing."""
        with open_device(self.link.host_port) as port:
            link = Link(port, timeout=GUARD)
            link.request(p.HELLO, p.WELCOME, protocol=p.PROTOCOL_VERSION, host_id="a-computer")
            link.request(p.PULL, p.BATCH, after=0, limit=5)

    def push(self) -> subprocess.Popen:
        """`facepace routines push` of a routine of the person's, from the computer."""
        routine = self.folder / "evening-calm.toml"
        routine.write_text(MINE)
        return subprocess.Popen([sys.executable, "-m", "device", "routines", "push", str(routine),
                                 "--port", self.link.host_port, "--timeout", "10"],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stored_routines(self) -> dict[str, bytes]:
        return OwnerStore(self.state / "owner").load().owned.routines

    def close(self) -> None:
        for child in self.children:
            child.stop()


@pytest.fixture
def device():
    # Not tmp_path: a unix socket's path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="fp-") as name, PtyLink() as link:
        device = Device(Path(name), link)
        with SessionLog.open(device.state / "sessions.db") as log:
            record_sessions(log, RECORDED)
        try:
            yield device
        finally:
            device.close()


def stop_cleanly(firmware: Child) -> str:
    firmware.process.send_signal(signal.SIGTERM)
    assert firmware.process.wait(timeout=GUARD) == 0
    text = firmware.text()
    assert "Traceback" not in text, text
    return text


def test_the_sync_status_and_the_hosts_clock_reach_the_firmwares_loop(device):
    sync_process = device.start_sync()
    firmware = device.start_firmware(FACEPACE_TEST_PRESS_AT="0.3")
    sync_process.wait_for(FIRMWARE_HELLO)     # the firmware listens (it binds before it says hello)
    firmware.wait_for("session start")        # the press started a session: its date comes from the clock
    # A status: the computer goes silent mid-sync; the sync process gives up and the firmware's
    # loop shows (and logs) the notice.
    device.begin_a_sync_and_go_silent()
    firmware.wait_for("Sync timed out")
    # The clock: a whole sync from a computer three days ahead.
    result = device.sync()
    assert result.new == RECORDED
    firmware.wait_for(CLOCK_ADOPTED)
    stop_cleanly(firmware)
    with SessionLog.open(device.state / "sessions.db") as log:
        [session] = [s for s in log.sessions() if s.outcome == "ended_early" and s.wall_start > time.time() - 3600]
    # Begun on the device's own clock, ended (at SIGTERM) on the computer's: three days later.
    assert session.wall_end - session.wall_start == pytest.approx(THREE_DAYS, abs=600)
    assert session.active_seconds < 600


def test_the_firmware_survives_the_sync_process_being_killed_and_restarted(device):
    first = device.start_sync(idle_timeout=GUARD)   # it must not end the sync itself before the kill
    firmware = device.start_firmware()
    first.wait_for(FIRMWARE_HELLO)
    device.begin_a_sync_and_go_silent()       # the firmware is told "Syncing 0/40" before the batch leaves
    first.process.kill()                      # SIGKILL mid-sync: no goodbye on the channel
    assert first.process.wait(timeout=GUARD) == -signal.SIGKILL
    second = device.start_sync()
    # The restarted service says hello; the firmware ends the sync it was showing.
    firmware.wait_for("Sync interrupted")
    # Status and clock flow again, from the new process.
    assert device.sync().new == RECORDED
    firmware.wait_for(CLOCK_ADOPTED)
    second.wait_for("Synced 40")              # told up to STATUS_GAP after the sync's last progress
    assert second.count("Synced 40") == 1
    assert firmware.process.poll() is None
    stop_cleanly(firmware)


def test_the_sync_process_survives_the_firmware_restarting_and_gives_it_the_clock_again(device):
    sync_process = device.start_sync()
    first = device.start_firmware()
    sync_process.wait_for(FIRMWARE_HELLO)
    device.sync()
    first.wait_for(CLOCK_ADOPTED)
    first.process.kill()                      # the firmware crashes (or the watchdog kills it)
    first.process.wait(timeout=GUARD)
    second = device.start_firmware()
    sync_process.wait_for(FIRMWARE_HELLO, times=2)
    second.wait_for(CLOCK_ADOPTED)            # this boot's correction, kept by the sync service
    assert second.count("correction +2592") == 1   # three days, to the link's latency
    assert sync_process.process.poll() is None
    assert device.sync(ahead=THREE_DAYS).new == 0   # the same process serves the next sync
    stop_cleanly(second)
    stop_cleanly(sync_process)                # systemd's stop: SIGTERM, exit 0


def traced_at(child: Child, text: str) -> float:
    """The loop's clock reading in the first trace line with `text` (its `at=`)."""
    line = next(line for line in child.text_so_far().splitlines() if text in line)
    return float(line.rsplit("at=", 1)[1].split()[0])


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=3 * GUARD)   # the person has a minute; this is a guard
    return process.returncode, out, err


def test_a_push_is_asked_on_the_firmwares_screen_and_a_press_there_accepts_it(device):
    sync_process = device.start_sync(idle_timeout=GUARD)
    firmware = device.start_firmware(FACEPACE_TEST_ANSWER="press")
    sync_process.wait_for(FIRMWARE_HELLO)
    code, out, err = finished(device.push())
    assert code == 0, err
    assert out == "Routine 'evening-calm' (Evening calm) is on the device.\n"
    assert "Press the button on the device to accept" in err
    firmware.wait_for(QUESTION)
    firmware.wait_for("answer answer=True in_time=True")
    # Stored by the sync process, read again by the firmware: the double press cycles through it.
    firmware.wait_for("settings routines=['daily', 'quick', 'lymphatic', 'evening', 'evening-calm']")
    assert device.stored_routines() == {"evening-calm": MINE.encode()}
    stop_cleanly(firmware)


def test_a_hold_on_the_firmware_refuses_and_nothing_changes(device):
    sync_process = device.start_sync(idle_timeout=GUARD)
    firmware = device.start_firmware(FACEPACE_TEST_ANSWER="hold")
    sync_process.wait_for(FIRMWARE_HELLO)
    code, _, err = finished(device.push())
    assert (code, err.splitlines()[-1]) == (1, "facepace: refused on the device: nothing changed")
    firmware.wait_for("answer answer=False in_time=True")
    assert device.stored_routines() == {}
    assert "settings routines=" not in stop_cleanly(firmware)


def test_the_firmware_killed_mid_question_ends_it_and_the_sync_process_serves_on(device):
    sync_process = device.start_sync(idle_timeout=GUARD)
    firmware = device.start_firmware()          # nobody answers
    sync_process.wait_for(FIRMWARE_HELLO)
    push = device.push()
    firmware.wait_for(QUESTION)
    firmware.process.kill()
    firmware.process.wait(timeout=GUARD)
    code, _, err = finished(push)
    assert code == 1 and "the device's firmware stopped before the person answered" in err, err
    assert device.stored_routines() == {}
    assert sync_process.process.poll() is None
    # A restarted firmware asks the next push again, and a press takes it.
    again = device.start_firmware(FACEPACE_TEST_ANSWER="press")
    sync_process.wait_for(FIRMWARE_HELLO, times=2)
    code, _, err = finished(device.push())
    assert code == 0, err
    again.wait_for("settings routines=['daily', 'quick', 'lymphatic', 'evening', 'evening-calm']")
    stop_cleanly(again)


def test_a_restarted_sync_process_takes_its_question_off_the_firmwares_screen(device):
    first = device.start_sync(idle_timeout=GUARD)
    firmware = device.start_firmware()          # nobody answers
    first.wait_for(FIRMWARE_HELLO)
    push = device.push()
    firmware.wait_for(QUESTION)
    first.process.kill()
    first.process.wait(timeout=GUARD)
    push.kill()
    push.communicate()
    device.start_sync()
    firmware.wait_for("answer answer=None in_time=False")
    # Withdrawn when the new process said hello, not dropped at the end of the person's minute.
    asked_at, withdrawn_at = (traced_at(firmware, text) for text in (QUESTION, "answer answer=None"))
    assert withdrawn_at - asked_at < ANSWER_WITHIN
    assert device.stored_routines() == {}
    stop_cleanly(firmware)


def test_a_computer_gone_mid_question_takes_it_off_the_firmwares_screen(device):
    sync_process = device.start_sync(idle_timeout=1.0)   # a silent computer is gone after 1 s
    firmware = device.start_firmware()          # nobody answers
    sync_process.wait_for(FIRMWARE_HELLO)
    push = device.push()
    firmware.wait_for(QUESTION)
    push.kill()                                 # the computer stops asking
    push.communicate()
    firmware.wait_for("answer answer=None in_time=False")
    asked_at, withdrawn_at = (traced_at(firmware, text) for text in (QUESTION, "answer answer=None"))
    assert withdrawn_at - asked_at < ANSWER_WITHIN
    assert device.stored_routines() == {}
    stop_cleanly(firmware)


def test_a_push_during_a_session_on_the_firmware_is_told_busy(device):
    sync_process = device.start_sync(idle_timeout=GUARD)
    firmware = device.start_firmware(FACEPACE_TEST_PRESS_AT="0.3")
    sync_process.wait_for(FIRMWARE_HELLO)
    firmware.wait_for("session start")
    push = device.push()
    # The firmware said "busy" when the session began: the computer hears it at once.
    assert push.stderr.readline() == "The device is in a session: it will ask when the session is over...\n"
    # On the firmware's loop, waiting behind the session (traced when it is shown).
    firmware.wait_for("the sync service asks the person: Add routine 'Evening calm' 6:00")
    push.kill()
    push.communicate()
    stop_cleanly(firmware)


def test_without_a_firmware_a_push_fails_at_once_and_changes_nothing(device):
    device.start_sync(idle_timeout=GUARD)
    code, _, err = finished(device.push())
    assert code == 1 and "the device could not ask; try again" in err, err
    assert device.stored_routines() == {}
