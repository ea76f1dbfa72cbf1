"""sd_notify against a real Unix datagram socket opened by the test, as systemd would open it."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from device.core.clock import MonotonicClock, VirtualClock
from device.service.sdnotify import Notifier
from device.service.watchdog import WatchdogFeeder


@pytest.fixture
def notify_socket(tmp_path):
    """A bound datagram socket; yields (NOTIFY_SOCKET value, receive function)."""
    path = tmp_path / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    yield str(path), _receiver(server)
    server.close()


def _receiver(server):
    def received(timeout=0.2):
        """Every datagram waiting (or arriving within `timeout`), decoded."""
        messages = []
        server.settimeout(timeout or None)
        if not timeout:
            server.setblocking(False)
        while True:
            try:
                messages.append(server.recv(4096).decode())
            except (TimeoutError, BlockingIOError):
                return messages
            server.settimeout(0.01)
    return received


def test_no_notify_socket_means_no_op():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.watchdog_interval() is None
    notifier.ready()
    notifier.watchdog()
    notifier.stopping()
    notifier.close()


def test_ready_is_sent_once_then_watchdog_and_stopping(notify_socket):
    address, received = notify_socket
    with Notifier.from_environment({"NOTIFY_SOCKET": address}) as notifier:
        notifier.ready()
        notifier.ready()
        notifier.watchdog()
        notifier.status("Running\ndaily routine")
        notifier.stopping()
    assert received() == ["READY=1", "WATCHDOG=1", "STATUS=Running daily routine", "STOPPING=1"]


def test_abstract_namespace_socket():
    name = f"facepace-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    try:
        with Notifier.from_environment({"NOTIFY_SOCKET": "@" + name}) as notifier:
            notifier.ready()
        assert _receiver(server)() == ["READY=1"]
    finally:
        server.close()


def test_send_failure_is_logged_not_raised(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    notifier.watchdog()
    assert "sd_notify" in caplog.text
    notifier.close()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "10000000"}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "garbage"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(environ, expected):
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": "/nonexistent", **environ})
    assert notifier.watchdog_interval() == expected


def test_watchdog_pings_at_half_the_timeout_on_the_loop_clock(notify_socket):
    address, received = notify_socket
    clock = VirtualClock()
    notifier = Notifier(address, watchdog_usec=10_000_000)
    feeder = WatchdogFeeder(notifier, clock)
    # A loop that wakes every 0.5 s for a minute: 5 s interval -> a ping at 0, 5, 10, ... 60.
    pings = []
    for _ in range(121):
        feeder.poll(clock.now())
        pings += received(timeout=0)
        clock.advance(0.5)
    assert pings == ["WATCHDOG=1"] * 13
    notifier.close()


def test_feeder_without_watchdog_never_pings(notify_socket):
    address, received = notify_socket
    clock = VirtualClock()
    feeder = WatchdogFeeder(Notifier(address), clock)
    feeder.poll(clock.now())
    assert feeder.next_deadline() is None
    assert received(timeout=0.05) == []


def test_a_hung_main_loop_stops_the_pings(notify_socket):
    """Pings come from the loop itself: once it blocks, no thread keeps systemd fooled."""
    address, received = notify_socket
    notifier = Notifier(address, watchdog_usec=40_000)  # ping every 20 ms
    clock = MonotonicClock()
    feeder = WatchdogFeeder(notifier, clock)
    hang, release = threading.Event(), threading.Event()
    iterations = 0

    def main_loop():
        nonlocal iterations
        while not release.is_set():
            feeder.poll(clock.now())
            iterations += 1
            if iterations == 5:
                hang.set()
                release.wait()  # the "bug": the loop stops making progress
                return
            threading.Event().wait(max(0.0, feeder.next_deadline() - clock.now()))

    loop = threading.Thread(target=main_loop)
    loop.start()
    assert hang.wait(5)
    before_hang = received(timeout=0.05)
    during_hang = received(timeout=0.3)  # 15 intervals' worth of silence
    release.set()
    loop.join(5)
    notifier.close()
    assert before_hang == ["WATCHDOG=1"] * 5
    assert during_hang == []


def test_a_full_notify_queue_never_blocks_the_loop(notify_socket, caplog):
    address, received = notify_socket
    notifier = Notifier(address)
    for _ in range(200):  # far more than the kernel's datagram queue holds unread
        notifier.watchdog()
    notifier.close()
    assert "sd_notify" in caplog.text
    assert 0 < len(received()) < 200
