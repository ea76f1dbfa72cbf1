"""A BATCH's sessions, read as plain rows and encoded straight to JSON, are exactly what the
log's own records say, and cross the cable to the computer unchanged.

The device builds a batch without `SessionRecord`s (device.sync.source: the records cost most
of a first sync's CPU on a Pi). The reference here is the record path: `logdb.read_sessions`,
`protocol.session_values` and `session_columns.date_quality`, each session its own JSON text.
"""

from __future__ import annotations

import json
import random
from contextlib import closing

from hypothesis import given, settings
from hypothesis import strategies as st

from device.log import logdb
from device.log.logdb import ZoneProgress
from device.log.session_columns import date_quality
from device.log.sessionschema import ZONE_ID_MAX_CHARS, ZONE_ID_PATTERN
from device.log.sessionlog import SessionLog
from device.sync import protocol as p
from device.sync import source as sync_source
from device.sync.frames import Frame, FrameDecoder, encode
from device.sync.source import SyncSource
from tests.support.sync_testing import record_sessions


def fast_connect(path):
    connection = logdb.connect(path)
    connection.execute("PRAGMA synchronous = OFF")   # a test's log: no fsync per session
    return connection


def expected_batch(path, after: int, max_sessions: int, max_bytes: int) -> list[bytes]:
    """The batch the record path gives: sessions above `after`, cut by the same two limits."""
    with closing(logdb.connect(path, read_only=True)) as db:
        fixed = logdb.read_fixed_at_sync(db)
        records = logdb.read_sessions(db, after_seq=after)
    batch, size = [], 0
    for record in records[:max_sessions]:
        quality = date_quality(wall_trusted=record.wall_trusted, fixed_at_sync=record.id in fixed)
        item = json.dumps(p.session_values(record, quality), separators=(",", ":")).encode()
        if batch and size + len(item) + 1 > max_bytes:
            break
        batch.append(item)
        size += len(item) + 1
    return batch


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)   # quotes, é, \n...
zone_ids = st.from_regex(ZONE_ID_PATTERN, fullmatch=True).filter(lambda z: len(z) <= ZONE_ID_MAX_CHARS)
seconds = st.floats(0, 10_000, allow_nan=False)
zones = st.lists(st.tuples(zone_ids, seconds, seconds, st.booleans()), max_size=6)
sessions = st.lists(st.tuples(names, st.integers(1, 5), zones, st.booleans(), st.booleans(),
                              st.sampled_from(["completed", "ended_early", "open"])), min_size=1, max_size=25)


def fill(log: SessionLog, trusted: list[bool], drawn) -> None:
    """Sessions as the app records them; `trusted` is what the log's clock check says now."""
    mono = 1000.0
    for name, intensity, zone_list, clock_set, _, outcome in drawn:
        trusted[0] = clock_set
        wall = 1_717_000_000.0 + mono + random.Random(mono).random()
        sid = log.begin(name, "sha256:test", intensity, [(z, planned) for z, planned, _, _ in zone_list],
                        mono_start=mono, wall_start=wall)
        if outcome != "open":
            progress = [ZoneProgress(z, planned, done, skipped) for z, planned, done, skipped in zone_list]
            log.finish(sid, outcome, progress, active_seconds=sum(z.done_seconds for z in progress),
                       wall_end=wall + 600.25, mono_end=mono + 600.25)
        mono += 700.123456789


@settings(derandomize=True, deadline=None, max_examples=30)
@given(drawn=sessions, after=st.integers(0, 30), max_sessions=st.integers(1, 30),
       max_bytes=st.integers(1, 4000), fix_dates=st.booleans(), chunk=st.integers(1, 700))
def test_a_batch_is_the_record_path_s_json_and_crosses_the_cable_unchanged(
        tmp_path_factory, drawn, after, max_sessions, max_bytes, fix_dates, chunk):
    path = tmp_path_factory.mktemp("log") / "sessions.db"
    trusted = [True]
    with SessionLog.open(path, clock_synced=lambda: trusted[0], connect=fast_connect) as log:
        fill(log, trusted, drawn)
        if fix_dates:   # some dates fixed by a host: their date_quality is "host"
            log.fix_dates(host_utc=1_717_000_000.0 + 50_000, monotonic_now=1000.0 + 700 * len(drawn))
        with SyncSource(log) as source:
            batch, last = source.batch_after(after, max_sessions=max_sessions, max_bytes=max_bytes)
    assert batch == expected_batch(path, after, max_sessions, max_bytes)
    assert last == (json.loads(batch[-1])[1] if batch else after)

    # Across the cable, in pieces as the port gives them: the computer decodes the same sessions.
    payload = json.dumps({"rid": 1, "after": after, "last_seq": last, "remaining": 0,
                          "fields": list(p.SESSION_FIELDS)}).encode()[:-1] \
        + b',"sessions":[' + b",".join(batch) + b"]}"
    wire, decoder, frames = encode(p.BATCH, payload), FrameDecoder(), []
    for start in range(0, len(wire), chunk):
        frames += decoder.feed(wire[start:start + chunk])
    assert frames == [Frame(p.BATCH, payload)]
    with closing(logdb.connect(path, read_only=True)) as db:
        device_id = logdb.get_meta(db, "device_id")
        fixed = logdb.read_fixed_at_sync(db)
        records = [r for r in logdb.read_sessions(db, after_seq=after)][:len(batch)]
    decoded = p.decode_batch(p.unpack(frames[0]).body, after=after, device_id=device_id, announced=2**40)
    assert [(record.as_dict(), quality) for record, quality in decoded.sessions] == \
        [(r.as_dict(), date_quality(wall_trusted=r.wall_trusted, fixed_at_sync=r.id in fixed)) for r in records]


class Rows(list):
    def fetchall(self) -> list:
        return list(self)


class WatchedReader:
    """The sync's read-only connection, with `seen(rows)` called after each read of sessions by
    seq (a batch's, or a piece of one) and before the source's next statement."""

    def __init__(self, connection, seen) -> None:
        self.connection, self.seen = connection, seen

    def __getattr__(self, name):
        return getattr(self.connection, name)

    def execute(self, sql, *params):
        result = self.connection.execute(sql, *params)
        if "FROM sessions AS s WHERE s.seq > ?" in sql and "LIMIT" in sql:
            result = Rows(result.fetchall())
            self.seen(result)
        return result


def watch_the_sync_s_reads(monkeypatch, seen) -> None:
    connect = logdb.connect

    def watched(path, **options):
        connection = connect(path, **options)
        return WatchedReader(connection, seen) if options.get("read_only") else connection

    monkeypatch.setattr(sync_source.logdb, "connect", watched)


def test_a_batch_cut_by_its_bytes_reads_few_sessions_it_does_not_send(tmp_path, monkeypatch):
    """Pieces are sized from the sessions seen: a 60 KiB batch of ~500-byte sessions reads about
    what it sends, not the host's 500 (each session read costs a Pi's CPU)."""
    read: list[int] = []
    with SessionLog.open(tmp_path / "sessions.db", clock_synced=lambda: True, connect=fast_connect) as log:
        record_sessions(log, 600)
        watch_the_sync_s_reads(monkeypatch, lambda rows: read.append(len(rows)))
        with SyncSource(log) as source:
            sent, after = 0, 0
            while True:
                batch, after = source.batch_after(after, max_sessions=p.MAX_BATCH_SESSIONS,
                                                  max_bytes=p.MAX_BATCH_BYTES)
                if not batch:
                    break
                sent += len(batch)
    assert sent == 600
    assert sum(read) - sent <= 2 * len([n for n in read if n]), read   # a session or two a batch
    assert len(read) <= 2 * (600 * 500 // p.MAX_BATCH_BYTES + 2), read  # about one read a batch


def test_a_session_finalised_again_between_the_two_reads_is_never_sent_without_its_zones(tmp_path, monkeypatch):
    """The sessions and their zones are read in one read transaction: a writer that gives a
    session a new seq between the two queries does not make its zones vanish from the batch."""
    moved = []
    with SessionLog.open(tmp_path / "sessions.db", clock_synced=lambda: True, connect=fast_connect) as log:
        record_sessions(log, 3)
        with closing(fast_connect(tmp_path / "sessions.db")) as writer:
            def finalise_again(rows) -> None:
                if not moved:
                    moved.append(writer.execute("UPDATE sessions SET seq = 100 WHERE seq = 2").rowcount)

            watch_the_sync_s_reads(monkeypatch, finalise_again)
            with SyncSource(log) as source:
                batch, _ = source.batch_after(0, max_sessions=10, max_bytes=p.MAX_BATCH_BYTES)
    assert moved == [1]
    assert [len(json.loads(item)[-1]) for item in batch] == [8] * len(batch)   # (the moved one, twice)


def test_a_sync_before_the_worker_opened_the_log_opens_it_itself(tmp_path):
    """The firmware's log opens on the recorder's worker once the loop serves (issue 12); a sync
    that comes first (the simulator serves it in-process) opens it itself, identity and all,
    instead of refusing HELLO ("no identity yet": a fresh-clone run under load met it)."""
    log = SessionLog.open(tmp_path / "sessions.db", deferred=True)
    assert not (tmp_path / "sessions.db").exists()      # the worker has not got to it
    with SyncSource(log) as source:
        assert source.device_id == log.device_id and source.log_id == log.log_id
    log.finish_opening()                                   # the worker's turn comes: nothing twice
    assert log.device_id == source.device_id
    log.close()
