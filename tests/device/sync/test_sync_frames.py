"""The frame decoder on arbitrary bytes, and the protocol's checks on untrusted payloads."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.sync import frames, protocol as p
from device.sync.frames import Frame, FrameDecoder, FrameError, Problem, encode

payloads = st.binary(max_size=600)
frame_specs = st.tuples(st.integers(0, 255), payloads)
# Noise that is mostly magic bytes and look-alike headers, the hardest case for resync.
noise = st.lists(st.one_of(st.binary(max_size=40), st.just(frames.MAGIC),
                           st.just(frames.MAGIC + b"\x01\x00\x00\xff\xff")), max_size=6).map(b"".join)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_all(data: bytes, chunk: int) -> list:
    decoder = FrameDecoder()
    found = []
    for start in range(0, len(data), chunk):
        found += decoder.feed(data[start:start + chunk])
    return found


@SETTINGS
@given(st.binary(max_size=4000), st.integers(1, 97))
def test_arbitrary_bytes_never_raise_and_give_only_checked_frames(data, chunk):
    for item in decode_all(data, chunk):
        assert isinstance(item, (Frame, Problem))
        if isinstance(item, Frame):
            # Whatever came out must re-encode to bytes that really were in the input.
            assert encode(item.type, item.payload) in data


@SETTINGS
@given(st.lists(st.tuples(noise, frame_specs), max_size=8), noise, st.integers(1, 300))
def test_every_frame_in_noise_is_found_in_order(pieces, tail, chunk):
    stream = b"".join(junk + encode(t, body) for junk, (t, body) in pieces) + tail
    found = [item for item in decode_all(stream, chunk) if isinstance(item, Frame)]
    sent = [Frame(t, body) for _, (t, body) in pieces]
    # Noise may (very rarely) hold a valid frame by chance; every sent frame must be there in order.
    position = 0
    for frame in sent:
        position = found.index(frame, position) + 1


@SETTINGS
@given(frame_specs, st.integers(0, 10_000), st.integers(0, 7))
def test_a_flipped_bit_never_yields_a_wrong_frame(spec, where, bit):
    data = bytearray(encode(*spec))
    data[where % len(data)] ^= 1 << bit
    assert Frame(*spec) not in decode_all(bytes(data), 64)
    good = encode(3, b"after")
    assert decode_all(bytes(data) + good, 64)[-1] == Frame(3, b"after")


def test_frame_layout_is_as_documented():
    data = encode(0x05, b"hi")
    head = frames.MAGIC + bytes([0x05]) + (2).to_bytes(4, "big")
    assert data[:7] == head
    assert data[7:11] == zlib.crc32(head).to_bytes(4, "big")
    assert data[11:13] == b"hi"
    assert data[13:] == zlib.crc32(data[:13]).to_bytes(4, "big")


def test_payload_limit_on_both_sides():
    encode(1, bytes(frames.MAX_PAYLOAD))
    with pytest.raises(frames.FrameTooLarge):
        encode(1, bytes(frames.MAX_PAYLOAD + 1))
    with pytest.raises(FrameError):
        encode(256, b"")
    # A checked header announcing more than the limit is reported, not waited for.
    import struct
    head = struct.pack(">2sBI", frames.MAGIC, 6, frames.MAX_PAYLOAD + 1)
    head += zlib.crc32(head).to_bytes(4, "big")
    found = FrameDecoder().feed(head + encode(2, b"next"))
    assert found == [Problem("too_large", 6), Frame(2, b"next")]


def test_damaged_payload_is_reported_and_the_next_frame_found():
    data = bytearray(encode(5, b"payload"))
    data[-6] ^= 0x40
    assert FrameDecoder().feed(bytes(data) + encode(7, b"ok")) == [Problem("bad_crc", 5), Frame(7, b"ok")]


def test_a_truncated_frame_can_be_dropped():
    decoder = FrameDecoder()
    assert decoder.feed(encode(6, bytes(1000))[:500]) == []
    assert decoder.pending == 500
    decoder.reset()
    assert decoder.feed(encode(1, b"x")) == [Frame(1, b"x")]


def fake_header(length: int, frame_type: int = 1) -> bytes:
    """A header whose own CRC checks, announcing `length` bytes that will never come."""
    head = struct.pack(">2sBI", frames.MAGIC, frame_type, length)
    return head + zlib.crc32(head).to_bytes(4, "big")


# What a hostile or broken host may leave in front of an honest frame.
hostile_prefixes = st.lists(st.one_of(
    st.binary(max_size=300),
    st.integers(0, frames.MAX_PAYLOAD + 2).map(fake_header),
    st.tuples(frame_specs, st.integers(0, 700)).map(lambda cut: encode(*cut[0])[:cut[1]]),
    st.just(frames.MAGIC), st.just(frames.MAGIC[:1]),
), max_size=6).map(b"".join)


@SETTINGS
@given(hostile_prefixes, frame_specs, st.integers(1, 300))
def test_whatever_came_before_it_a_whole_frame_is_found(prefix, spec, chunk):
    """Issue 10: a believable header announcing 64 KiB swallowed every frame after it (the
    host's re-sends kept the link from going quiet, so the device never answered again)."""
    assert decode_all(prefix + encode(*spec), chunk)[-1] == Frame(*spec)


def test_a_checked_header_inside_a_partial_frame_ends_it():
    decoder = FrameDecoder()
    assert decoder.feed(fake_header(65_536) + bytes(100)) == []
    hello = encode(1, b'{"rid":1}')
    assert decoder.feed(hello[:5]) == [] and decoder.feed(hello[5:]) == [Frame(1, b'{"rid":1}')]
    assert decoder.pending == 0 and decoder.skipped == 11 + 100


def test_a_partial_frame_waits_at_most_its_deadline_even_on_a_busy_link():
    decoder = FrameDecoder(frame_timeout=1.0)
    assert decoder.feed(fake_header(4000), now=10.0) == []
    for moment in (10.4, 10.8, 11.0):          # bytes keep coming: never a second of silence
        assert decoder.feed(b"no magic here", now=moment) == []
        assert decoder.pending > 0
    assert decoder.feed(b"", now=11.01) == [] and decoder.pending == 0
    assert decoder.feed(encode(2, b"next"), now=11.02) == [Frame(2, b"next")]
    # A frame that began later has its own deadline, counted from its first byte.
    assert decoder.feed(encode(3, b"slow")[:6], now=20.0) == []
    assert decoder.feed(encode(3, b"slow")[6:], now=20.9) == [Frame(3, b"slow")]


@SETTINGS
@given(st.binary(max_size=300), st.integers(0, 255))
def test_unpack_raises_only_protocol_errors(payload, frame_type):
    try:
        message = p.unpack(Frame(frame_type, payload), accepted=p.HOST_REQUESTS)
    except p.ProtocolError as error:
        assert error.code in (p.E_BAD_PAYLOAD, p.E_UNKNOWN_TYPE)
    else:
        assert isinstance(message.body, dict)


def test_hostile_payloads_are_refused_with_a_code():
    with pytest.raises(p.ProtocolError) as nested:
        p.unpack(Frame(p.PULL, b"[" * 60_000 + b"]" * 60_000))
    assert nested.value.code == p.E_BAD_PAYLOAD
    for bad in ({"after": True}, {"after": -1}, {"after": 1.5}, {"after": "1"}, {}):
        with pytest.raises(p.ProtocolError):
            p.integer(bad, "after", 0, 10)
    for bad in ({"utc": float("nan")}, {"utc": 1e300}, {"utc": None}):
        with pytest.raises(p.ProtocolError):
            p.number(bad, "utc", p.MIN_UTC, p.MAX_UTC)
    with pytest.raises(p.ProtocolError):
        p.text({"host_id": "x" * 65}, "host_id", 64)


def test_session_fields_follow_the_log_columns():
    from device.log import logdb
    assert p.SESSION_FIELDS == logdb.SESSION_COLUMNS + ("date_quality", "zones")
