"""End to end over real pseudo-terminals: `facepace sync-serve` on one end, `facepace sync` on the other."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import itertools
import struct
import threading
import time
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.log import logdb
from device.log.sessionlog import SessionLog, read_boot_id
from device.sync import protocol as p
from device.sync import frames
from device.sync.frames import FrameDecoder, Frame, encode
from companion.hostdb import HostDb
from device.sync.server import MAX_REQUEST, READ_CHUNK, STATUS_GAP, SyncServer
from tests.support.sync_testing import PtyLink, ZONES, record_sessions

REPO = Path(__file__).resolve().parents[3]


def facepace() -> list[str]:
    """The real CLI: `facepace` once the lead has wired the sync commands, else their module."""
    from device.cli import main as cli
    try:
        cli.build_parser().parse_args(["sync-serve", "--port", "x"])
    except SystemExit:
        return [sys.executable, "-m", "device"]
    return [sys.executable, "-m", "device.cli.main"]


def device_log(state: Path, **options) -> SessionLog:
    options.setdefault("clock_synced", lambda: True)
    return SessionLog.open(state / "sessions.db", **options)


class Device:
    """`facepace sync-serve` in a child process, on one end of a pty link."""

    def __init__(self, state: Path, port: str) -> None:
        env = dict(os.environ, FACEPACE_STATE_DIR=str(state), PYTHONPATH=str(REPO))
        self.process = subprocess.Popen(facepace() + ["sync-serve", "--port", port], env=env,
                                        cwd=REPO, stderr=subprocess.PIPE, text=True)

    def stop(self) -> str:
        self.process.terminate()
        try:
            return self.process.communicate(timeout=5)[1]
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def host_sync(port: str, db: Path, *extra: str, timeout: float = 5.0) -> subprocess.CompletedProcess:
    return subprocess.run(facepace() + ["sync", "--port", port, "--db", str(db),
                                        "--timeout", str(timeout), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


def device_sessions(state: Path) -> dict[str, dict]:
    connection = logdb.connect(state / "sessions.db", read_only=True)
    try:
        return {s.id: s.as_dict() for s in logdb.read_sessions(connection) if s.outcome}
    finally:
        connection.close()


def host_sessions(db: Path, device_id: str | None = None) -> dict[str, dict]:
    with HostDb.open(db) as host:
        return {record.id: record.as_dict() for record, _ in host.sessions(device_id=device_id)}


@pytest.fixture
def link():
    with PtyLink() as pty:
        yield pty


def test_first_sync_copies_every_session_field_for_field_then_nothing_is_new(tmp_path, link):
    state = tmp_path / "device"
    with device_log(state) as log:
        record_sessions(log, 40)
        device_id = log.device_id
    device = Device(state, link.device_port)
    try:
        first = host_sync(link.host_port, tmp_path / "host.db")
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == f"40 new, 0 already had, device {device_id}"
        assert host_sessions(tmp_path / "host.db") == device_sessions(state)

        again = host_sync(link.host_port, tmp_path / "host.db")
        assert again.stdout.strip() == f"0 new, 0 already had, device {device_id}"

        # A host that lost its cursor asks from the start: nothing is stored twice.
        with sqlite3.connect(tmp_path / "host.db") as raw:
            raw.execute("DELETE FROM cursors")
        lost = host_sync(link.host_port, tmp_path / "host.db")
        assert lost.stdout.strip() == f"0 new, 40 already had, device {device_id}"
        assert host_sessions(tmp_path / "host.db") == device_sessions(state)
    finally:
        device.stop()


def test_the_device_records_the_host_s_acknowledgement_and_reports_it_next_handshake(tmp_path, link):
    """Issue 5: the host acknowledges each stored batch; the device records it and says so."""
    state = tmp_path / "device"
    with device_log(state) as log:
        record_sessions(log, 300)      # more than one batch (BATCH_SESSIONS is 250)
        last_seq = max(s.seq for s in log.sessions())
    with HostDb.open(tmp_path / "host.db") as host:
        host_id = host.host_id
    device = Device(state, link.device_port)
    try:
        result = host_sync(link.host_port, tmp_path / "host.db")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("300 new")
        with device_log(state) as log:
            assert log.last_acknowledged(host_id) == last_seq
            assert log.last_acknowledged("another-host") == 0

        # The next handshake from this host tells it where it got to.
        talk = Talk(link.host_port)
        try:
            welcome = talk.send(p.pack(p.HELLO, rid=1, protocol=p.PROTOCOL_VERSION, host_id=host_id))
            assert welcome["type"] == p.WELCOME
            assert welcome["acked_seq"] == last_seq and welcome["last_seq"] == last_seq
            talk.send(p.pack(p.BYE, rid=2))
        finally:
            talk.port.close()
    finally:
        device.stop()


def test_new_sessions_recorded_during_a_sync_arrive_next_time(tmp_path, link):
    state = tmp_path / "device"
    log = device_log(state)
    record_sessions(log, 600)
    device = Device(state, link.device_port)
    try:
        syncing = subprocess.Popen(facepace() + ["sync", "--port", link.host_port, "--db",
                                                 str(tmp_path / "host.db")],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The device keeps recording while it is being synced: the recorder must never fail.
        record_sessions(log, 5, first_wall=1_800_000_000.0, seed=9)
        out, err = syncing.communicate(timeout=60)
        assert syncing.returncode == 0, err
        assert log.take_notices() == [] and not log.has_unsaved
        result = host_sync(link.host_port, tmp_path / "host.db")
        assert result.returncode == 0, result.stderr
        assert host_sessions(tmp_path / "host.db") == device_sessions(state)
        assert len(device_sessions(state)) == 605
    finally:
        device.stop()
        log.close()


def test_sync_serve_leaves_the_firmware_s_running_session_alone(tmp_path, link):
    """`facepace sync-serve` next to the firmware: the session under way is not 'interrupted'."""
    state = tmp_path / "device"
    with device_log(state) as firmware:
        record_sessions(firmware, 3)
        running = firmware.begin("daily", "sha256:test", 3, ZONES, mono_start=5.0,
                                 wall_start=1_800_000_000.0)
        device = Device(state, link.device_port)
        try:
            first = host_sync(link.host_port, tmp_path / "host.db")
            assert first.returncode == 0, first.stderr
            assert first.stdout.startswith("3 new, 0 already had")
            (session,) = [s for s in firmware.sessions() if s.id == running]
            assert session.outcome is None
            firmware.finish(running, "completed", [], active_seconds=60.0,
                            wall_end=1_800_000_060.0, mono_end=65.0)
            assert firmware.take_notices() == []
            second = host_sync(link.host_port, tmp_path / "host.db")
            assert second.stdout.startswith("1 new, 0 already had")
            assert host_sessions(tmp_path / "host.db")[running]["outcome"] == "completed"
        finally:
            device.stop()


def test_several_devices_into_one_database_and_history(tmp_path):
    ids = []
    with PtyLink() as first, PtyLink() as second:
        devices = []
        for number, pty in enumerate((first, second)):
            state = tmp_path / f"device{number}"
            with device_log(state) as log:
                record_sessions(log, 3 + number, seed=number)
                ids.append(log.device_id)
            devices.append(Device(state, pty.device_port))
        try:
            for pty in (first, second):
                assert host_sync(pty.host_port, tmp_path / "host.db").returncode == 0
        finally:
            for device in devices:
                device.stop()
    assert len(host_sessions(tmp_path / "host.db", ids[0])) == 3
    assert len(host_sessions(tmp_path / "host.db", ids[1])) == 4
    listing = subprocess.run(facepace() + ["history", "--json", "--db", str(tmp_path / "host.db")],
                             cwd=REPO, capture_output=True, text=True, check=True)
    items = json.loads(listing.stdout)
    assert sorted(item["device_id"] for item in items) == sorted([ids[0]] * 3 + [ids[1]] * 4)
    assert {item["date_quality"] for item in items} == {"clock"}
    table = subprocess.run(facepace() + ["history", "--db", str(tmp_path / "host.db")],
                           cwd=REPO, capture_output=True, text=True, check=True)
    sessions_table, goal = table.stdout.split("\n\n")   # the table, then the weekly goal under it
    assert len(sessions_table.splitlines()) == 1 + 7 and goal.startswith("This week: ")
    rows = subprocess.run(facepace() + ["history", "--csv", "--db", str(tmp_path / "host.db")],
                          cwd=REPO, capture_output=True, text=True, check=True)
    assert len(rows.stdout.splitlines()) == 1 + 7 * len(ZONES)
    parsed = list(csv.DictReader(io.StringIO(rows.stdout)))
    assert {row["date_quality"] for row in parsed} == {"clock"}
    picture = subprocess.run(facepace() + ["report", "--out", str(tmp_path / "report.png"),
                                           "--db", str(tmp_path / "host.db")],
                             cwd=REPO, capture_output=True, text=True)
    assert picture.returncode == 0, picture.stderr
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")


def test_dates_from_an_untrusted_clock_are_fixed_or_marked_estimated(tmp_path, link):
    state = tmp_path / "device"
    boot = tmp_path / "boot_id"
    boot.write_text(read_boot_id() + "\n")   # this boot: its monotonic clock is the server's
    with device_log(state, boot_id_path=boot, clock_synced=lambda: False) as log:
        wrong = 978_307_200.0  # 2001: a Pi that booted without a clock
        began = time.monotonic() - 7200
        this_boot = log.begin("quick", "h", 2, ZONES[:2], mono_start=began, wall_start=wrong)
        log.finish(this_boot, "completed", [], active_seconds=150, wall_end=wrong + 180,
                   mono_end=began + 180)
    boot.write_text("an-earlier-boot\n")
    with device_log(state, boot_id_path=boot, clock_synced=lambda: False) as log:
        earlier = log.begin("quick", "h", 2, ZONES[:2], mono_start=50.0, wall_start=wrong - 86400)
        log.finish(earlier, "completed", [], active_seconds=150, wall_end=wrong - 86400 + 180,
                   mono_end=230.0)
    device = Device(state, link.device_port)
    try:
        result = host_sync(link.host_port, tmp_path / "host.db")
    finally:
        device.stop()
    assert result.returncode == 0, result.stderr
    assert "1 with estimated dates" in result.stdout
    with HostDb.open(tmp_path / "host.db") as host:
        synced = {record.id: (record, quality) for record, quality in host.sessions()}
    fixed, quality = synced[this_boot]
    assert quality == "host" and fixed.wall_trusted
    assert abs(fixed.wall_start - (time.time() - 7200)) < 30
    assert fixed.wall_end - fixed.wall_start == pytest.approx(180)
    estimated, quality = synced[earlier]
    assert quality == "estimated" and not estimated.wall_trusted
    assert estimated.wall_start == wrong - 86400
    # The device's own log holds the fixed date too (its streaks must agree).
    assert host_sessions(tmp_path / "host.db") == device_sessions(state)


# --- The device side on its own: untrusted input, a port that comes and goes --------------

class Talk:
    """A raw pyserial end for sending hand-made frames to the server."""

    def __init__(self, port: str) -> None:
        self.port = serial.Serial(port, timeout=0.05)
        self.decoder = FrameDecoder()

    def send(self, data: bytes, wait: float = 3.0) -> dict:
        """The first reply after sending `data`."""
        return self.answer_to(data, rid=None, wait=wait)

    def answer_to(self, data: bytes, rid: int | None, wait: float = 3.0) -> dict:
        """The reply carrying `rid` (None: any reply); replies to other frames are passed over."""
        self.port.write(data)
        deadline = time.monotonic() + wait   # a guard against a stalled device, not a timing
        while time.monotonic() < deadline:
            for item in self.decoder.feed(self.port.read(4096)):
                if isinstance(item, Frame):
                    reply = {"type": item.type, **json.loads(item.payload)}
                    if rid is None or reply.get("rid") == rid:
                        return reply
        raise AssertionError("no reply")

    def hello(self, rid: int, host_id: str = "h") -> dict:
        return self.answer_to(p.pack(p.HELLO, rid=rid, protocol=p.PROTOCOL_VERSION, host_id=host_id), rid)


class ManualClock:
    """The server's monotonic clock, moved only by the test: timeouts without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self._reads = 0
        self._read = threading.Condition()

    def __call__(self) -> float:
        with self._read:
            self._reads += 1
            self._read.notify_all()
            return self.now

    def advance(self, seconds: float) -> None:
        """Move on, and return once the server has acted on the new time: its loop reads the
        clock once a turn, so a second read means a whole turn saw it."""
        with self._read:
            self.now += seconds
            seen = self._reads
            assert self._read.wait_for(lambda: self._reads >= seen + 2, timeout=10)


class Statuses(list):
    """What the server showed on the screen; `wait_for` lets the test wait for its thread."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()

    def __call__(self, status) -> None:
        with self._changed:
            self.append(status)
            self._changed.notify_all()

    def wait_for(self, state: str) -> bool:
        with self._changed:   # the timeout only keeps a broken server from hanging the run
            return self._changed.wait_for(lambda: bool(self) and self[-1].state == state, timeout=10)


@dataclass
class ServedDevice:
    talk: Talk
    statuses: Statuses
    clock: ManualClock
    server: SyncServer
    log: SessionLog

    def acknowledgement_rows(self) -> int:
        with closing(logdb.connect(self.log.path, read_only=True)) as db:
            return db.execute("SELECT COUNT(*) FROM sync_acks").fetchone()[0]


@pytest.fixture
def device(tmp_path, link):
    statuses, clock = Statuses(), ManualClock()
    with device_log(tmp_path / "device") as log:
        record_sessions(log, 3)
        with SyncServer(link.device_port, log, on_status=statuses, idle_timeout=0.5,
                        reopen_delay=0.05, monotonic=clock) as server:
            assert server.serving.wait(60)   # pyserial empties the input when it opens
            talk = Talk(link.host_port)
            yield ServedDevice(talk, statuses, clock, server, log)
            talk.port.close()


@pytest.fixture
def served(device):
    return device.talk, device.statuses, device.clock


def test_the_server_refuses_what_is_not_the_protocol(served):
    talk, _, _ = served
    assert talk.send(p.pack(p.PULL, rid=1, after=0, limit=5))["code"] == p.E_NO_HELLO
    assert talk.send(encode(0x42, b"{}"))["code"] == p.E_UNKNOWN_TYPE
    assert talk.send(encode(p.HELLO, b"\xff"))["code"] == p.E_BAD_PAYLOAD
    assert talk.send(encode(p.HELLO, b"[" * 4000))["code"] == p.E_BAD_PAYLOAD
    # Requests are small: the device reads none over MAX_REQUEST, 24 KiB (nor waits for one).
    assert talk.send(encode(p.HELLO, b"[" * 50_000))["code"] == p.E_TOO_LARGE
    version = p.PROTOCOL_VERSION
    damaged = bytearray(p.pack(p.HELLO, rid=2, protocol=version, host_id="h"))
    damaged[-1] ^= 1
    assert talk.send(bytes(damaged))["code"] == p.E_BAD_CRC
    refused = talk.send(p.pack(p.HELLO, rid=3, protocol=version + 1, host_id="h"))
    assert refused["code"] == p.E_VERSION and f"protocol {version}," in refused["message"]
    old_host = talk.send(p.pack(p.HELLO, rid=3, protocol=version - 1, host_id="h"))
    assert old_host["code"] == p.E_VERSION and "update facepace on this computer" in old_host["message"]
    welcome = talk.send(bytes(range(256)) + p.pack(p.HELLO, rid=4, protocol=version, host_id="h"))
    assert welcome["type"] == p.WELCOME and welcome["rid"] == 4
    # An ACK for more than was offered would let a host hide sessions from others: refused.
    assert talk.send(p.pack(p.ACK, rid=5, seq=10))["code"] == p.E_BAD_PAYLOAD
    batch = talk.send(p.pack(p.PULL, rid=6, after=0, limit=2))
    assert [row[1] for row in batch["sessions"]] == [1, 2] and batch["remaining"] == 1
    assert talk.send(p.pack(p.ACK, rid=7, seq=2))["recorded"] is True


def test_a_silent_host_is_dropped_and_the_screen_told(served):
    talk, statuses, clock = served
    talk.send(p.pack(p.HELLO, rid=1, protocol=p.PROTOCOL_VERSION, host_id="h"))
    talk.send(p.pack(p.PULL, rid=2, after=0, limit=1))
    clock.advance(0.5)   # idle_timeout is 0.5 s: silent for exactly that long is still fine
    assert talk.send(p.pack(p.PULL, rid=3, after=1, limit=1))["type"] == p.BATCH
    clock.advance(0.501)
    assert statuses.wait_for("failed")
    assert statuses[-1].text == "Sync timed out" and statuses[0].text == "Syncing 0/3"
    assert talk.send(p.pack(p.PULL, rid=4, after=0, limit=1))["code"] == p.E_NO_HELLO


def test_the_port_may_appear_later_and_vanish(tmp_path, link):
    where = tmp_path / "ttyGS0"
    attempts, tried = [], threading.Condition()

    def open_port(*args, **kwargs):
        with tried:
            attempts.append(where.exists())
            tried.notify_all()
        return serial.Serial(*args, **kwargs)

    with device_log(tmp_path / "device") as log:
        record_sessions(log, 2)
        running = set(threading.enumerate())
        with SyncServer(str(where), log, reopen_delay=0.05, open_port=open_port) as server:
            (thread,) = set(threading.enumerate()) - running   # the server's own
            # No port yet: the thread waits and tries again, it does not die.
            with tried:
                assert tried.wait_for(lambda: len(attempts) >= 3, timeout=10)
            assert thread.is_alive() and not any(attempts)
            where.symlink_to(link.device_port)
            with HostDb.open(tmp_path / "host.db") as db:
                from companion import sync_client as host
                port = host.open_device(link.host_port)
                try:
                    assert host.sync(port, db, timeout=3).new == 2
                finally:
                    port.close()
            assert server.syncs == 1
        assert not thread.is_alive()   # close() joined the thread


def test_the_host_says_what_to_do_on_silence_and_on_another_version(tmp_path, link):
    from companion import sync_client as host

    port = host.open_device(link.host_port)
    try:
        with HostDb.open(tmp_path / "host.db") as db:
            started = time.monotonic()
            with pytest.raises(host.SyncError, match="no answer from the device within 0.6 s"):
                host.sync(port, db, timeout=0.6)
            assert time.monotonic() - started < 2

            # A device from the future: it answers, but with a newer protocol.
            newer = p.PROTOCOL_VERSION + 1
            device_end = serial.Serial(link.device_port, timeout=0.05)
            decoder = FrameDecoder()

            def newer_device():
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    for item in decoder.feed(device_end.read(4096)):
                        if isinstance(item, Frame):
                            rid = json.loads(item.payload)["rid"]
                            device_end.write(p.pack(p.WELCOME, rid=rid, protocol=newer, device_id="d"))
                            return

            import threading
            answering = threading.Thread(target=newer_device)
            answering.start()
            with pytest.raises(host.SyncError, match=f"protocol {newer}.*update facepace"):
                host.sync(port, db, timeout=3)
            answering.join()
            device_end.close()
    finally:
        port.close()


# --- Issue 10: a hostile host on the device's port ----------------------------------------

def fake_header(length: int, frame_type: int = p.HELLO) -> bytes:
    """A header whose own CRC checks, announcing `length` bytes that will never come."""
    head = struct.pack(">2sBI", frames.MAGIC, frame_type, length)
    return head + zlib.crc32(head).to_bytes(4, "big")


@pytest.mark.parametrize("announced", [MAX_REQUEST, frames.MAX_PAYLOAD])
def test_one_fake_header_does_not_stall_the_device(device, announced):
    """111 bytes starting with a checked header announcing 64 KiB made three `facepace sync`
    runs in a row fail: the host's re-sends every 0.5 s kept the link from ever being quiet
    for the 1 s after which the reader gave up the partial frame."""
    device.talk.port.write(fake_header(announced) + bytes(100))
    assert device.talk.hello(rid=7)["type"] == p.WELCOME


def test_a_partial_frame_is_dropped_at_its_deadline_while_bytes_keep_coming(device):
    device.talk.port.write(fake_header(MAX_REQUEST))
    for _ in range(20):   # 6 s on the device's clock, never 1 s without a byte
        device.talk.port.write(b"no magic here")
        device.clock.advance(0.3)
    assert device.server.decoder.pending == 0
    assert device.talk.hello(rid=8)["type"] == p.WELCOME


def test_the_device_keeps_acknowledgements_of_the_newest_16_hosts_only(device):
    """1,000 made-up host ids gave 1,000 rows (and 1,000 fsyncs): the table had no bound."""
    talk = device.talk
    rids = itertools.count(1)
    for number in range(40):
        talk.hello(next(rids), host_id=f"host-{number}")
        rid = next(rids)
        talk.answer_to(p.pack(p.PULL, rid=rid, after=0, limit=1), rid)
        rid = next(rids)
        assert talk.answer_to(p.pack(p.ACK, rid=rid, seq=1), rid)["recorded"] is True
    assert device.acknowledgement_rows() == 16
    assert talk.hello(next(rids), host_id="host-39")["acked_seq"] == 1
    assert talk.hello(next(rids), host_id="host-0")["acked_seq"] == 0


def test_a_time_the_device_cannot_believe_is_refused_with_the_reason_and_the_sync_goes_on(device):
    talk = device.talk
    talk.hello(rid=1)
    answer = talk.answer_to(p.pack(p.SET_CLOCK, rid=2, utc=p.MAX_UTC), rid=2)   # 2100-01-01
    assert answer["type"] == p.CLOCK_SET and answer["fixed"] == 0
    assert "2100-01-01" in answer["refused"] and "check its date and time" in answer["refused"]
    batch = talk.answer_to(p.pack(p.PULL, rid=3, after=0, limit=10), rid=3)
    assert [row[1] for row in batch["sessions"]] == [1, 2, 3]
    assert talk.answer_to(p.pack(p.ACK, rid=4, seq=3), rid=4)["recorded"] is True
    assert talk.answer_to(p.pack(p.BYE, rid=5), rid=5)["type"] == p.BYE


def test_a_flood_is_read_in_short_turns(tmp_path, link):
    """The reader shares the interpreter with the pacing loop: it decodes at most READ_CHUNK
    bytes between two reads (and rests after each turn), however much is waiting. It took all
    that was waiting, and 64 KiB of magic bytes held the interpreter for tens of ms
    (`make bench` measures the loop's timers under a flood)."""
    reads = []

    class RecordingPort(serial.Serial):   # the real port, noting what each read returned
        def read(self, size=1):
            data = super().read(size)
            reads.append(len(data))
            return data

    with device_log(tmp_path / "device") as log, \
            SyncServer(link.device_port, log, open_port=RecordingPort, reopen_delay=0.05) as server:
        assert server.serving.wait(60)
        talk = Talk(link.host_port)
        flood = frames.MAGIC * 32_768
        assert talk.answer_to(flood + p.pack(p.HELLO, rid=1, protocol=p.PROTOCOL_VERSION, host_id="h"),
                              rid=1, wait=30)["type"] == p.WELCOME
        talk.port.close()
    assert sum(reads) > len(flood) and max(reads) <= READ_CHUNK


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
request_bodies = st.fixed_dictionaries({}, optional={
    key: json_values | st.integers(0, 10) for key in ("rid", "protocol", "host_id", "utc", "after",
                                                      "limit", "seq")})
hostile_pieces = st.one_of(
    st.binary(max_size=200),
    st.builds(fake_header, st.integers(0, 2**32 - 1), st.integers(0, 255)),
    st.builds(lambda kind, body: encode(kind, json.dumps(body).encode()),
              st.sampled_from(sorted(p.HOST_REQUESTS)) | st.integers(0, 255), request_bodies),
    st.builds(lambda kind, body, cut: encode(kind, json.dumps(body).encode())[:cut],
              st.sampled_from(sorted(p.HOST_REQUESTS)), request_bodies, st.integers(0, 60)),
    st.integers(1, MAX_REQUEST).map(lambda depth: encode(p.PULL, b"[" * depth)),
    st.just(frames.MAGIC * 50),
)
FUZZ_EXAMPLES = int(os.environ.get("FACEPACE_SYNC_FUZZ_EXAMPLES", "40"))


def test_hostile_byte_streams_never_stall_the_device_nor_grow_what_it_keeps(device):
    """Whatever arrives, the next honest HELLO is answered, and what the device holds stays
    bounded (one request's bytes, 16 hosts' acknowledgements). `make bench` runs it longer."""
    rids = itertools.count(10**12)   # above anything the fuzzer sends, so the answer is ours

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(hostile_pieces, min_size=1, max_size=8).map(b"".join))
    def honest_hello_after(stream):
        device.talk.port.write(stream)
        assert device.talk.hello(next(rids), host_id="honest")["type"] == p.WELCOME
        assert device.server.decoder.pending <= frames.HEADER_SIZE + MAX_REQUEST + frames.TRAILER_SIZE
        assert device.acknowledgement_rows() <= 16

    honest_hello_after()
    assert device.server.serving.is_set()


def test_the_computer_says_why_the_device_did_not_take_its_time(tmp_path, link):
    """A computer whose clock says 2100: the device refuses that time, the sync goes on, and
    the person reads why (the device's reason was sent and then dropped on the floor)."""
    from companion import sync_client as host

    with device_log(tmp_path / "device") as log:
        record_sessions(log, 2)
        with SyncServer(link.device_port, log, reopen_delay=0.05) as server:
            assert server.serving.wait(60)
            with HostDb.open(tmp_path / "host.db") as db, closing(host.open_device(link.host_port)) as port:
                result = host.sync(port, db, utc=lambda: p.MAX_UTC)
    assert (result.new, result.dates_fixed) == (2, 0)
    assert "2100-01-01" in result.clock_refused
    said = result.summary().splitlines()
    assert said[0] == f"2 new, 0 already had, device {result.device_id}"
    assert said[1].startswith("The device did not take this computer's time: ") and "2100-01-01" in said[1]


def test_a_flood_of_syncs_tells_the_screen_one_status_a_second_the_newest(device):
    """A host that syncs over and over as fast as the device answers (new hosts, every request
    valid) must not wake the firmware for each: one status per STATUS_GAP of the device's clock."""
    talk, statuses, clock = device.talk, device.statuses, device.clock
    for rid in range(0, 120, 4):
        talk.send(p.pack(p.HELLO, rid=rid, protocol=p.PROTOCOL_VERSION, host_id=f"flood-{rid}"))
        talk.send(p.pack(p.PULL, rid=rid + 1, after=0, limit=3))
        talk.send(p.pack(p.ACK, rid=rid + 2, seq=3))
        talk.send(p.pack(p.BYE, rid=rid + 3))
    assert [s.text for s in statuses] == ["Syncing 0/3"]     # the first; 119 more came within the second
    clock.advance(STATUS_GAP)
    assert statuses.wait_for("synced")
    assert [s.text for s in statuses] == ["Syncing 0/3", "Synced 3"]   # then the newest, once
