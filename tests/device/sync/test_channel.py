"""The firmware–sync channel: its messages over real unix datagram sockets, and what it does
with datagrams that are not its messages (anything that reaches the socket is hostile)."""

from __future__ import annotations

import json
import logging
import math
import socket
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from device.sync import channel as c
from device.sync.channel import (Answer, Ask, Busy, Channel, ChannelError, Clock, Hello, Stored, SyncStatus,
                                 Withdraw)


def send_raw(datagrams, to: Path) -> None:
    """Bytes, not messages, as any process allowed to write the socket may send them."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        for datagram in datagrams:
            sender.sendto(datagram, str(to))


@pytest.fixture
def folder():
    # Not tmp_path: a unix socket's path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="fp-") as name:
        yield Path(name)


@pytest.fixture
def pair(folder):
    with Channel(folder / "a.sock", folder / "b.sock") as a, Channel(folder / "b.sock", folder / "a.sock") as b:
        yield a, b


MESSAGES = [Hello(), Clock(259_200.5), Clock(-3.25), SyncStatus("syncing", 3, 10),
            SyncStatus("synced", 10, 10), SyncStatus("failed", message="Sync timed out"), SyncStatus("waiting"),
            Ask(1, "Add routine 'Evening calm' 6:00"), Ask(c.MAX_ID, "\U0001f600" * c.MAX_PROMPT),
            Answer(7, "yes"), Answer(7, "no"), Answer(8, "none"), Withdraw(9), Stored(), Busy(True), Busy(False)]


def test_every_message_crosses_a_real_socket_unchanged(pair):
    a, b = pair
    received = []
    for message in MESSAGES:   # one at a time: a unix datagram queue holds only ~10
        assert a.send(message)
        received.append(b.receive(timeout=5.0))
    assert received == MESSAGES
    assert b.receive(timeout=0) is None   # nothing more


def test_a_burst_is_received_in_one_batch_in_order(pair):
    a, b = pair
    for sent in range(5):
        a.send(SyncStatus("syncing", sent, 5))
    assert b.receive_batch(timeout=5.0) == [SyncStatus("syncing", sent, 5) for sent in range(5)]


def test_garbage_is_dropped_with_a_log_line_and_the_next_message_still_arrives(pair, caplog):
    a, b = pair
    send_raw([b"\xff\xfe", b"[1, 2]", b'{"v": 1, "type": "clock", "offset": "soon"}',
              b'{"v": 1, "type": "status", "state": "syncing", "sent": -1, "total": 0, "message": ""}',
              b"x" * (c.MAX_DATAGRAM + 100)], b.own)
    a.send(Clock(60.0))
    with caplog.at_level(logging.WARNING, logger="device.sync.channel"):
        assert b.receive_batch(timeout=5.0) == [Clock(60.0)]
    assert b.dropped == 5
    # One line for the burst (a flood must not flood the journal), naming the socket and why.
    [line] = [r.getMessage() for r in caplog.records if "dropped a datagram" in r.getMessage()]
    assert str(b.own) in line and "not JSON" in line


def test_a_flood_of_junk_is_taken_in_bounded_pieces(pair):
    a, b = pair
    send_raw([b"junk"] * 10, b.own)
    a.send(Hello())
    assert b.receive_batch(timeout=5.0, limit=4) == []      # four datagrams, none a message
    assert b.receive_batch(timeout=5.0, limit=4) == []
    assert b.receive_batch(timeout=5.0, limit=4) == [Hello()]
    assert b.dropped == 10


def test_a_missing_peer_is_not_an_error_and_is_logged_once(folder, caplog):
    with Channel(folder / "a.sock", folder / "nobody.sock") as a, \
            caplog.at_level(logging.INFO, logger="device.sync.channel"):
        assert a.send(Hello()) is False
        assert a.send(Hello()) is False
    assert sum("nobody at" in r.getMessage() for r in caplog.records) == 1


def test_a_stale_socket_left_by_a_killed_process_is_replaced(folder):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as killed:
        killed.bind(str(folder / "a.sock"))   # a process bound it and was killed: the file stays
    assert (folder / "a.sock").is_socket()
    with Channel(folder / "a.sock", folder / "b.sock") as a, Channel(folder / "b.sock", folder / "a.sock") as b:
        b.send(Hello())
        assert a.receive(timeout=5.0) == Hello()


def test_only_the_owner_may_send(pair):
    a, _ = pair
    assert a.own.stat().st_mode & 0o777 == 0o600


def test_wake_ends_a_wait_without_a_message(pair):
    a, _ = pair
    a.wake()
    assert a.receive(timeout=5.0) is None


# --- The decoder under fuzzing -----------------------------------------------------------------

def check(data: bytes) -> None:
    """Either one of the messages, which encodes back to the same fields, or ChannelError."""
    try:
        message = c.decode(data)
    except ChannelError:
        return
    assert isinstance(message, c.Message.__args__)
    again = json.loads(c.encode(message))
    original = json.loads(data)
    assert again == original
    if isinstance(message, Clock):
        assert math.isfinite(message.offset) and abs(message.offset) <= c.MAX_OFFSET
    if isinstance(message, SyncStatus):
        assert message.state in c.SYNC_STATES and 0 <= message.sent <= c.MAX_COUNT
        assert len(message.message) <= c.MAX_TEXT
    if isinstance(message, (Ask, Answer, Withdraw)):
        assert 0 < message.question <= c.MAX_ID
    if isinstance(message, Ask):
        assert 0 < len(message.prompt) <= c.MAX_PROMPT
    if isinstance(message, Answer):
        assert message.verdict in c.VERDICTS
    if isinstance(message, Busy):
        assert isinstance(message.busy, bool)


values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=300) | st.sampled_from([*c.SYNC_STATES, *c.VERDICTS]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
bodies = st.fixed_dictionaries(
    {"v": st.one_of(st.just(1), values), "type": st.one_of(st.sampled_from(sorted(c.MESSAGES)), values)},
    optional={"offset": values, "state": values, "sent": values, "total": values, "message": values,
              "question": values, "prompt": values, "verdict": values, "busy": values, "extra": values})


@settings(derandomize=True, deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_fuzz_structured_datagrams(body):
    check(json.dumps(body).encode())


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.binary(max_size=c.MAX_DATAGRAM + 10))
def test_fuzz_raw_bytes(data):
    check(data)


@settings(derandomize=True, deadline=None, max_examples=150)
@given(st.lists(st.binary(max_size=300) | st.builds(lambda b: json.dumps(b).encode(), bodies), max_size=6))
def test_fuzz_through_a_real_socket_never_raises(data):
    with tempfile.TemporaryDirectory(prefix="fp-") as name:
        folder = Path(name)
        with Channel(folder / "a.sock", folder / "b.sock") as a, Channel(folder / "b.sock", folder / "a.sock") as b:
            send_raw(data, b.own)
            a.send(Hello())
            received = b.receive_batch(timeout=5.0, limit=len(data) + 1)
    assert received[-1] == Hello()
    assert all(isinstance(message, c.Message.__args__) for message in received)


def test_the_decoder_refuses_each_kind_of_wrong_field():
    good = {"v": 1, "type": "status", "state": "syncing", "sent": 1, "total": 2, "message": ""}
    assert c.decode(json.dumps(good).encode()) == SyncStatus("syncing", 1, 2)
    for change, why in [({"v": 2}, "version"), ({"v": True}, "version"), ({"type": "reboot"}, "unknown type"),
                        ({"state": "hacked"}, "state"), ({"sent": 1.5}, "sent"), ({"total": True}, "total"),
                        ({"message": "x" * 201}, "message"), ({"extra": 1}, "fields")]:
        with pytest.raises(ChannelError, match=why):
            c.decode(json.dumps({**good, **change}).encode())
    for offset in ("1e400", "NaN", "Infinity", str(c.MAX_OFFSET * 2)):
        with pytest.raises(ChannelError):
            c.decode(b'{"v":1,"type":"clock","offset":' + offset.encode() + b"}")

    for body, why in [({"type": "ask", "question": 0, "prompt": "x"}, "question id"),
                      ({"type": "ask", "question": True, "prompt": "x"}, "question id"),
                      ({"type": "ask", "question": 1, "prompt": ""}, "prompt"),
                      ({"type": "ask", "question": 1, "prompt": "x" * (c.MAX_PROMPT + 1)}, "prompt"),
                      ({"type": "answer", "question": 1, "verdict": "maybe"}, "verdict"),
                      ({"type": "answer", "question": 2**40, "verdict": "yes"}, "question id"),
                      ({"type": "withdraw", "question": -1}, "question id"),
                      ({"type": "busy", "busy": 1}, "busy"), ({"type": "stored", "x": 1}, "fields")]:
        with pytest.raises(ChannelError, match=why):
            c.decode(json.dumps({"v": 1, **body}).encode())


def test_the_largest_ask_fits_a_datagram():
    assert len(c.encode(Ask(c.MAX_ID, "\U0001f600" * c.MAX_PROMPT))) <= c.MAX_DATAGRAM
