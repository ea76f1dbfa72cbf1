"""`facepace run` under systemd's protocols: a real $NOTIFY_SOCKET, a real SIGTERM, a child process.

The pins and the panel are gpiozero's mock pins and the decoding fake I2C bus; the rest —
sd_notify, the watchdog fed from the loop, signal handling, the session log — is the real thing.
"""

import ast
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from device.service.firmware import require_raspberry_pi
from device.base.errors import NoHardwareError
from device.log.sessionlog import SessionLog

CHILD = Path(__file__).parents[2] / "support" / "firmware_child.py"
HANG_STATUS = "test: the main loop hangs now"   # as firmware_child.py sends it
WATCHDOG_USEC = 200_000          # pings every 0.1 s
RECEIVE_LIMIT = 20.0             # a safety net so a broken build fails instead of hanging


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(RECEIVE_LIMIT)
    yield path, sock
    sock.close()


def start(tmp_path, notify_path, **extra_env):
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC=str(WATCHDOG_USEC),
               FACEPACE_STATE_DIR=str(tmp_path / "state"), RUNTIME_DIRECTORY=str(tmp_path / "run"),
               PYTHONPATH=str(Path(__file__).parents[3]))
    env.pop("WATCHDOG_PID", None)
    env.update(extra_env)
    (tmp_path / "run").mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, str(CHILD)], env=env, stderr=subprocess.PIPE, text=True)


def receive_until(sock, wanted, seen):
    while True:
        message = sock.recv(4096).decode()
        seen.append(message)
        if wanted in message.split("\n"):
            return


class LogLines:
    """The child's stderr, read on a thread, so the test can wait for a line without a sleep."""

    def __init__(self, child: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(child.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(text in line for line in self.lines), RECEIVE_LIMIT)

    def text(self) -> str:
        self._reader.join(RECEIVE_LIMIT)
        return "".join(self.lines)


def test_ready_once_watchdog_from_the_loop_and_clean_sigterm(tmp_path, notify_socket):
    notify_path, sock = notify_socket
    child = start(tmp_path, notify_path, FACEPACE_TEST_PRESS_AT="0.3")
    log_lines = LogLines(child)
    seen = []
    try:
        receive_until(sock, "READY=1", seen)
        for _ in range(5):   # the loop keeps feeding the watchdog
            receive_until(sock, "WATCHDOG=1", seen)
        assert log_lines.wait_for("session start")   # the press at 0.3 s started a session
        child.send_signal(signal.SIGTERM)
        receive_until(sock, "STOPPING=1", seen)
        assert child.wait(timeout=RECEIVE_LIMIT) == 0
    finally:
        child.kill()
        child.wait()
    stderr = log_lines.text()
    assert sum(m.split("\n").count("READY=1") for m in seen) == 1
    assert "session start" in stderr and "SIGTERM" in stderr
    with SessionLog.open(tmp_path / "state" / "sessions.db") as log:
        [session] = log.sessions()
    assert session.outcome == "ended_early" and session.active_seconds > 0


def test_a_hung_loop_stops_the_watchdog_pings(tmp_path, notify_socket):
    notify_path, sock = notify_socket
    child = start(tmp_path, notify_path, FACEPACE_TEST_HANG_AFTER="1.0")
    seen = []
    try:
        receive_until(sock, "READY=1", seen)
        receive_until(sock, "WATCHDOG=1", seen)
        # The loop says it hangs, from the loop itself: every ping it sent is queued before that.
        receive_until(sock, "STATUS=" + HANG_STATUS, seen)
        pings_before_the_hang = sum(m.split("\n").count("WATCHDOG=1") for m in seen)
        # From then on nothing pings: ten watchdog intervals go by without a message.
        sock.settimeout(WATCHDOG_USEC / 1e6 * 10)
        with pytest.raises(socket.timeout):
            seen.append(sock.recv(4096).decode())
        assert child.poll() is None            # the process lives on: only the watchdog can tell
    finally:
        child.kill()
        child.communicate()
    assert pings_before_the_hang >= 1
    assert sum(m.split("\n").count("WATCHDOG=1") for m in seen) == pings_before_the_hang


def test_run_elsewhere_points_to_the_simulator(tmp_path):
    model = tmp_path / "model"
    model.write_text("Generic x86 PC\0")
    with pytest.raises(NoHardwareError, match="facepace sim"):
        require_raspberry_pi(model, tmp_path / "gpiochip0")
    model.write_text("Raspberry Pi Zero 2 W Rev 1.0\0")
    (tmp_path / "gpiochip0").touch()
    assert require_raspberry_pi(model, tmp_path / "gpiochip0") == "Raspberry Pi Zero 2 W Rev 1.0"


def test_facepace_run_on_this_machine_says_no_gpio(tmp_path):
    if Path("/proc/device-tree/model").exists():
        pytest.skip("this machine has a device tree; the message is tested above")
    result = subprocess.run([sys.executable, "-m", "device", "run"], capture_output=True, text=True,
                            env=dict(os.environ, FACEPACE_STATE_DIR=str(tmp_path)))
    assert result.returncode == 1
    assert "no GPIO found" in result.stderr and "facepace sim" in result.stderr


def test_a_crash_turns_the_motor_off_logs_and_exits_non_zero_then_recovers(tmp_path, notify_socket):
    notify_path, sock = notify_socket
    child = start(tmp_path, notify_path, FACEPACE_TEST_PRESS_AT="0.2", FACEPACE_TEST_CRASH_IN_SESSION="1")
    try:
        assert child.wait(timeout=RECEIVE_LIMIT) == 1      # non-zero: systemd restarts it
    finally:
        child.kill()
        stderr = child.communicate()[1]
    assert "ERROR facepace: crashed" in stderr and "Traceback" in stderr
    assert "deliberate bug for the test" in stderr
    # The bug struck with the session's first cue under way; serve() turned the motor off on its way out.
    [duties] = [ast.literal_eval(line.partition(": ")[2]) for line in stderr.splitlines()
                if line.startswith("motor duties: ")]
    assert max(duties) > 0 and duties[-1] == 0
    # The next start finds the session left open and keeps it as interrupted.
    with SessionLog.open(tmp_path / "state" / "sessions.db") as log:
        [session] = log.sessions()
    assert session.outcome == "interrupted"
