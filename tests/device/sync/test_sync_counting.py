"""The sync counts what remains once per sync, not per batch, and still counts it right.

COUNT(*) over the seq index costs as much as the sessions above the seq it starts from, so a
count per batch made a first sync grow with the square of the log (100,000 sessions: 42-54 s).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from hypothesis import given, settings
from hypothesis import strategies as st

from companion import sync_client as host
from companion.hostdb import HostDb
from device.log import logdb
from device.log.sessionlog import SessionLog
from device.sync import protocol as p
from device.sync import source as sync_source
from device.sync.server import SyncServer
from device.sync.source import SyncSource
from tests.support.sync_testing import PtyLink, record_sessions


def fast_connect(path):
    connection = logdb.connect(path)
    connection.execute("PRAGMA synchronous = OFF")   # a test's log: no fsync per session
    return connection


def counts_in(statements: list[str]) -> int:
    return sum(1 for statement in statements if "COUNT(*) FROM sessions" in statement)


def test_a_first_sync_counts_the_sessions_to_send_once_not_per_batch(tmp_path, monkeypatch):
    statements: list[str] = []
    connect = logdb.connect

    def traced(path, **options):   # the source's own reader, with SQLite telling each statement
        connection = connect(path, **options)
        if options.get("read_only"):
            connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(sync_source.logdb, "connect", traced)
    statuses, progress = [], []
    with SessionLog.open(tmp_path / "sessions.db", clock_synced=lambda: True, connect=fast_connect) as log:
        record_sessions(log, 600)
        with PtyLink() as link, SyncServer(link.device_port, log, reopen_delay=0.05,
                                           on_status=statuses.append) as server:
            assert server.serving.wait(60)
            with HostDb.open(tmp_path / "host.db") as db, closing(host.open_device(link.host_port)) as port:
                result = host.sync(port, db, progress=lambda done, total: progress.append((done, total)))
    assert result.new == 600
    assert len(progress) >= 5                 # several batches (60 KiB each)...
    assert counts_in(statements) == 1, [s for s in statements if "COUNT" in s]   # ...and one count
    # The count is still right: the host's bar and the device's "Syncing n/N" end at 600/600.
    assert {total for _, total in progress} == {600} and progress[-1] == (600, 600)
    # (Statuses are told a second apart, the newest: "Synced 600" may have replaced the last n/N.)
    syncing = [(s.sent, s.total) for s in statuses if s.state == "syncing"]
    assert syncing[0] == (0, 600) and {total for _, total in syncing} == {600}
    assert [(s.state, s.sent) for s in statuses][-1] == ("synced", 600)


def plain_count(path, seq: int) -> int:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT COUNT(*) FROM sessions WHERE seq > ?", (seq,)).fetchone()[0]


# A sync's requests in any order a host (or a hostile one) may send them, with sessions
# finishing on the device between them: each step is (what, a number).
steps = st.lists(st.tuples(st.sampled_from(["pull", "pull_again", "pull_from", "finish", "count"]),
                           st.integers(0, 40)), min_size=1, max_size=12)


@settings(derandomize=True, deadline=None, max_examples=25)
@given(steps=steps, first_after=st.integers(0, 30))
def test_what_remains_is_the_count_sqlite_gives_whatever_the_host_asks(tmp_path_factory, steps, first_after):
    path = tmp_path_factory.mktemp("log") / "sessions.db"
    with SessionLog.open(path, clock_synced=lambda: True, connect=fast_connect) as log:
        record_sessions(log, 30)
        with SyncSource(log) as source:
            assert source.count_after(first_after) == plain_count(path, first_after)
            after, last = first_after, first_after
            for number, (what, value) in enumerate(steps):
                if what == "finish":
                    record_sessions(log, value % 4 + 1, first_wall=1_800_000_000.0 + number * 1e6, seed=number)
                    continue
                if what == "count":
                    asked = value
                else:
                    after = {"pull": last, "pull_again": after, "pull_from": value}[what]
                    sessions, last = source.batch_after(after, max_sessions=value % 7 + 1,
                                                        max_bytes=p.MAX_BATCH_BYTES)
                    asked = last
                assert source.count_after(asked) == plain_count(path, asked), (what, asked)
