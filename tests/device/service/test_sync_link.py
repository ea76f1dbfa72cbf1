"""The firmware's end of the sync channel, batch by batch: what reaches the loop's queue, and
what goes back to the sync service (over a real socket)."""

from __future__ import annotations

import queue
import tempfile
import threading
from pathlib import Path

import pytest

from device.core.events import Notice, SyncProgress
from device.log.clockfix import HostWallClock
from device.service.sync_link import INTERRUPTED, SyncLink
from device.sync.channel import Channel, Clock, Hello, SyncStatus


@pytest.fixture
def ends():
    # Not tmp_path: a unix socket's path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="fp-") as name:
        folder = Path(name)
        with Channel(folder / "fw.sock", folder / "sync.sock") as firmware, \
                Channel(folder / "sync.sock", folder / "fw.sock") as sync_service:
            yield firmware, sync_service


def make_link(channel, **options):
    events, clock_notes = [], []
    wall_clock = HostWallClock(system_time=lambda: 1_800_000_000.0)
    link = SyncLink(channel, send=events.append, wall_clock=wall_clock,
                    on_clock=lambda: clock_notes.append(True), **options)
    return link, events, clock_notes


def test_a_burst_of_progress_becomes_its_newest_and_an_end_is_never_skipped(ends):
    link, events, _ = make_link(ends[0])
    link.handle([SyncStatus("syncing", sent, 300) for sent in range(0, 300, 30)])
    assert events == [SyncProgress(270, 300)]
    link.handle([SyncStatus("syncing", 280, 300), SyncStatus("synced", 300, 300), SyncStatus("syncing", 0, 5)])
    assert events[1:] == [SyncProgress(300, 300, done=True), SyncProgress(0, 5)]
    link.handle([SyncStatus("failed", message="Sync timed out"), SyncStatus("waiting")])
    assert events[3:] == [Notice("Sync timed out")]


def test_the_hosts_clock_is_adopted_and_the_log_told(ends):
    link, _, clock_notes = make_link(ends[0])
    link.handle([Clock(259_200.0)])
    assert link.wall_clock.time() == 1_800_259_200.0 and link.wall_clock.set_by_host
    assert clock_notes == [True]


def test_a_restarted_sync_service_ends_the_sync_shown_and_gets_the_clock_back(ends):
    firmware, sync_service = ends
    link, events, _ = make_link(firmware)
    link.handle([Hello()])                     # nothing was going on: nothing to say
    assert events == [] and sync_service.receive(timeout=0) is None
    link.handle([Clock(60.0), SyncStatus("syncing", 3, 10)])
    link.handle([Hello()])
    assert events == [SyncProgress(3, 10), Notice(INTERRUPTED)]
    assert sync_service.receive(timeout=5.0) == Clock(60.0)
    link.handle([Hello()])                     # a second restart: the sync was already ended
    assert events[2:] == []


def test_the_thread_says_hello_at_start_passes_events_on_and_stops(ends):
    firmware, sync_service = ends
    events = queue.SimpleQueue()
    running = set(threading.enumerate())
    link = SyncLink(firmware, send=events.put, wall_clock=HostWallClock()).start()
    (thread,) = set(threading.enumerate()) - running   # the link's own
    assert sync_service.receive(timeout=5.0) == Hello()
    sync_service.send(SyncStatus("synced", 4, 4))
    assert events.get(timeout=30.0) == SyncProgress(4, 4, done=True)
    link.close()
    link.close()   # safe twice
    thread.join(30.0)
    assert not thread.is_alive()


def test_no_socket_means_an_idle_link_not_a_crash(tmp_path, caplog):
    missing = tmp_path / "no" / "such" / "folder"
    link = SyncLink.listen(missing, send=lambda event: None, wall_clock=HostWallClock())
    link.close()
    assert "cannot listen for the sync service" in caplog.text
