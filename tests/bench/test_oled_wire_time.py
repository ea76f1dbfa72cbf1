"""Time on the I2C wire for what the real adafruit driver sends (counted by the fake bus)."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.oled_traffic import FAST_MODE_HZ, STANDARD_MODE_HZ, adafruit_full_show_bytes, wire_seconds


def test_a_byte_is_nine_clocks_and_a_write_adds_its_address_byte_a_start_and_a_stop():
    assert wire_seconds(1, 1, 100_000) == pytest.approx(20 / 100_000)
    assert wire_seconds(0, 0, 100_000) == 0
    assert wire_seconds(1000, 5, FAST_MODE_HZ) == pytest.approx(wire_seconds(1000, 5, STANDARD_MODE_HZ) / 4)


def test_a_full_frame_takes_about_95_ms_at_the_pis_default_and_a_quarter_at_fast_mode():
    frame = Image.new("1", (128, 64), 1)
    data_bytes, writes = adafruit_full_show_bytes([frame])
    assert 0.090 < wire_seconds(data_bytes, writes, STANDARD_MODE_HZ) < 0.100
    assert 0.0225 < wire_seconds(data_bytes, writes, FAST_MODE_HZ) < 0.025
