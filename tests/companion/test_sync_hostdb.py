"""The computer's database of synced sessions: migrations and the checks on what arrives."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from device.log.logdb import SessionRecord, ZoneProgress
from companion import hostdb
from device.sync import protocol as p
from companion.hostdb import HostDb

RECORD = SessionRecord(id="s-1", device_id="dev", routine_name="daily", routine_hash="h", intensity=3,
                       wall_start=1_717_000_000.0, wall_trusted=True, boot_id="boot", mono_start=5.0,
                       active_seconds=60.0, outcome="completed", wall_end=1_717_000_060.0,
                       wall_checkpoint=1_717_000_060.0, mono_end=65.0, seq=1,
                       zones=(ZoneProgress("neck", 60.0, 60.0, False),))


def test_a_session_comes_back_from_the_host_database_field_for_field(tmp_path):
    with HostDb.open(tmp_path / "host.db") as db:
        db.store_batch("dev", "log-1", [(RECORD, "clock")], 1)
        assert db.sessions() == [(RECORD, "clock")]


def test_a_version_1_host_database_is_migrated_and_keeps_its_sessions(tmp_path):
    path = tmp_path / "host.db"
    old = sqlite3.connect(path, isolation_level=None)
    for statement in hostdb.MIGRATIONS[0]:
        old.execute(statement)
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO sessions VALUES ('dev', 's-0', 1, 'daily', 'h', 3, 1.7e9, 1.7e9 + 60,"
                " 1.7e9 + 60, 1, 'boot', 5.0, 60.0, 'completed', 'clock')")
    old.close()
    with HostDb.open(path) as db:
        [(record, quality)] = db.sessions()
    assert (record.id, record.mono_start, record.mono_end, quality) == ("s-0", 5.0, None, "clock")
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (len(hostdb.MIGRATIONS),)


def test_a_host_database_from_a_newer_facepace_is_refused_with_a_message(tmp_path):
    path = tmp_path / "host.db"
    HostDb.open(path).close()
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {len(hostdb.MIGRATIONS) + 1}")
    newer.close()
    with pytest.raises(hostdb.HostDbError, match="newer facepace; update it") as caught:
        HostDb.open(path)
    assert caught.value.file == path


def test_batches_stored_together_keep_a_session_sent_twice_once_as_it_came_last(tmp_path):
    """A sync commits about a second of batches at once; a session finalised again on the
    device comes back in a later batch with a new seq (and maybe fixed dates)."""
    first = dataclasses.replace(RECORD, id="s-2", seq=2)
    again = dataclasses.replace(RECORD, seq=3, wall_start=RECORD.wall_start + 7.0,
                                zones=(ZoneProgress("neck", 60.0, 30.0, False), ZoneProgress("jaw", 5.0, 5.0, False)))
    with HostDb.open(tmp_path / "host.db") as db:
        new, had = db.store_batches("dev", "log-1", [([(RECORD, "clock"), (first, "clock")], 2),
                                                     ([(again, "host")], 3)])
        assert (new, had) == (2, 1)
        assert sorted(db.sessions(), key=lambda pair: pair[0].id) == [(again, "host"), (first, "clock")]
        assert db.cursor("dev", "log-1") == 3
