"""The export unit's status file becomes screen events, once per new result."""

import os

from device.core.events import Notice, SyncProgress
from device.service.export_status import ExportStatusWatcher, event_for


def write(path, text):
    tmp = path.with_name(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)   # as the export script does: a new inode every time


def test_done_says_safe_to_remove_only_after_unmount(tmp_path):
    path = tmp_path / "export-status"
    shown = []
    watcher = ExportStatusWatcher(path, shown.append)
    watcher.poll(0.0)
    write(path, "state=exporting\ndevice=sda1\n")
    watcher.poll(1.0)
    write(path, "state=done\ndevice=sda1\nsessions=12\n")
    watcher.poll(2.0)
    watcher.poll(3.0)
    assert shown == [Notice("Exporting to USB"), SyncProgress(12, 12, done=True, to_drive=True)]


def test_polls_at_its_interval(tmp_path):
    path = tmp_path / "export-status"
    shown = []
    watcher = ExportStatusWatcher(path, shown.append, interval=1.0)
    watcher.poll(0.0)
    assert watcher.next_deadline() == 1.0
    write(path, "state=failed\nerror=drive removed\n")
    watcher.poll(0.5)
    assert shown == []
    watcher.poll(1.0)
    assert shown == [Notice("Export failed: drive removed")]


def test_a_result_from_before_start_is_not_news(tmp_path):
    path = tmp_path / "export-status"
    write(path, "state=done\nsessions=3\n")
    shown = []
    ExportStatusWatcher(path, shown.append).poll(0.0)
    assert shown == []


def test_unknown_state_is_ignored():
    assert event_for({"state": "weird"}) is None
