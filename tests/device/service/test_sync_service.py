"""The sync process's end of the channel (`facepace sync-serve`), message by message, over a real
socket to a stand-in for the firmware's end."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import pytest

from device.log.sessionlog import SessionLog
from device.service.sync_service import CLOCK_GAP, SyncService, open_channel
from device.sync.channel import MAX_TEXT, Busy, Channel, Clock, Hello, SyncStatus


@pytest.fixture
def ends():
    # Not tmp_path: a unix socket's path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="fp-") as name:
        folder = Path(name)
        with Channel(folder / "fw.sock", folder / "sync.sock") as firmware, \
                Channel(folder / "sync.sock", folder / "fw.sock") as sync_end:
            yield firmware, SyncService("/dev/null-port", sync_end)


def test_status_and_a_hosts_clock_go_to_the_firmware(ends):
    firmware, service = ends
    service._status(SyncStatus("syncing", 0, 40))
    offset = service.wall_clock.set_from_host(service.wall_clock.time() + 3600)
    service._status(SyncStatus("failed", message="x" * (MAX_TEXT + 50)))
    assert firmware.receive(timeout=5.0) == SyncStatus("syncing", 0, 40)
    assert firmware.receive(timeout=5.0) == Clock(offset)
    assert firmware.receive(timeout=5.0) == SyncStatus("failed", message="x" * MAX_TEXT)   # cut, not refused


def test_a_restarted_firmware_gets_the_clock_and_the_sync_in_progress(ends):
    firmware, service = ends
    service.handle(Hello())                    # nothing known yet: nothing to say
    assert firmware.receive(timeout=0) is None
    offset = service.wall_clock.set_from_host(service.wall_clock.time() + 60)
    service._status(SyncStatus("syncing", 5, 40))
    assert firmware.receive_batch(timeout=5.0) == [Clock(offset), SyncStatus("syncing", 5, 40)]
    service.handle(Hello())
    assert firmware.receive_batch(timeout=5.0) == [Clock(offset), SyncStatus("syncing", 5, 40)]
    service._status(SyncStatus("synced", 40, 40))
    firmware.receive(timeout=5.0)
    service.handle(Hello())                    # a finished sync is not repeated
    assert firmware.receive_batch(timeout=5.0) == [Clock(offset)]


def test_a_restarted_sync_service_takes_the_firmwares_clock_but_a_hosts_own_wins(ends):
    _, service = ends
    service.handle(Clock(120.0))
    assert service.wall_clock.set_by_host and service.wall_clock.offset == 120.0
    offset = service.wall_clock.set_from_host(service.wall_clock.time() + 30)
    service.handle(Clock(120.0))               # late, from before the host's sync
    assert service.wall_clock.offset == offset


def test_no_runtime_folder_means_syncing_without_the_screen(tmp_path, caplog):
    assert open_channel(tmp_path / "missing" / "sync.sock", tmp_path / "fw.sock") is None
    assert "the screen will not show syncs" in caplog.text


def test_a_host_setting_the_time_over_and_over_wakes_the_firmware_once_a_second(ends, tmp_path):
    """Every correction a flood of SET_CLOCKs makes is one datagram fewer for the firmware: the
    first is told at once, the newest once CLOCK_GAP has passed, none between."""
    firmware, service = ends
    with SessionLog.open(tmp_path / "sessions.db", clock_synced=lambda: True) as log:
        runner = threading.Thread(target=service.run, args=(log,))
        runner.start()
        try:
            assert firmware.receive(timeout=5.0) == Hello()
            started = time.monotonic()
            offsets = [service.wall_clock.set_from_host(time.time() + 3600 + n) for n in range(50)]
            told = [firmware.receive(timeout=5.0)]
            while told[-1] not in (Clock(offsets[-1]), None):   # None: nothing within the guard
                told.append(firmware.receive(timeout=5.0))
            elapsed = time.monotonic() - started
        finally:
            service.stop()
            runner.join(10)
    assert told[0] == Clock(offsets[0]) and told[-1] == Clock(offsets[-1])
    assert len(told) <= 2 + elapsed / CLOCK_GAP, told


def test_while_a_session_is_on_progress_and_results_wait_and_only_the_newest_is_told_after_it(ends):
    """The firmware shows no sync's progress or result over a session (and a result makes it read
    its log again): a sync, or a flood of them, then must not wake it. A failure's notice shows."""
    firmware, service = ends
    service.handle(Busy(True))
    service._status(SyncStatus("syncing", 0, 40))
    service._status(SyncStatus("synced", 40, 40))
    assert firmware.receive(timeout=0) is None          # sent at once when sent at all
    service.handle(Busy(False))
    assert firmware.receive_batch(timeout=5.0) == [SyncStatus("synced", 40, 40)]
    service.handle(Busy(True))
    service._status(SyncStatus("syncing", 3, 40))
    service._status(SyncStatus("failed", message="Sync timed out"))
    assert firmware.receive(timeout=5.0) == SyncStatus("failed", message="Sync timed out")
    service.handle(Busy(False))
    assert firmware.receive(timeout=0) is None           # the failure was newer than the progress
