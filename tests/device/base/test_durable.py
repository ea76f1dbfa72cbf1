"""Durable writes: the real name only ever holds a whole file."""

import os

import pytest

from device.base import durable


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sessions.csv"
    path.write_bytes(b"old")
    durable.write_atomically(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["sessions.csv"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "sessions.csv"
    path.write_bytes(b"old")

    def full_disk(descriptor):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)    # the OS call, not our code
    with pytest.raises(OSError):
        durable.write_atomically(path, b"new contents")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["sessions.csv"]
