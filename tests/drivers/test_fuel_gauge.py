"""The fuel gauge on the real adafruit_max1704x, over a register-level fake MAX17048 on the fake I2C bus."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from device.core.clock import VirtualClock
from drivers.battery import MAX17048Gauge
from drivers.fakes.i2c import FakeSSD1306Bus
from drivers.fakes.max17048 import ALRT, CONFIG, STATUS, VL, FakeMAX17048
from drivers.oled import OledDisplay


@pytest.fixture
def clock():
    return VirtualClock()


def bus_with_gauge(clock, **cell):
    bus = FakeSSD1306Bus()
    chip = FakeMAX17048(clock, **cell)
    bus.attach(chip)
    return bus, chip


def test_reads_the_charge_and_voltage_and_follows_the_cell_in_time(clock):
    bus, chip = bus_with_gauge(clock, percent=80.0, percent_per_hour=-12.0)
    gauge = MAX17048Gauge(bus)
    first = gauge.read()
    assert first.percent == pytest.approx(80.0, abs=1 / 256)
    assert first.volts == pytest.approx(3.98, abs=0.001)
    assert first.charging is False
    clock.advance(30 * 60)   # half an hour at 12 %/h
    later = gauge.read()
    assert later.percent == pytest.approx(74.0, abs=1 / 256)
    assert later.volts < first.volts


def test_a_charger_is_seen_in_the_charge_rate(clock):
    bus, chip = bus_with_gauge(clock, percent=40.0, percent_per_hour=-5.0)
    gauge = MAX17048Gauge(bus)
    assert gauge.read().charging is False
    chip.set(percent_per_hour=+30.0)
    assert gauge.read().charging is True
    chip.set(percent=100.0)
    assert gauge.read().charging is False   # full: CRATE is 0


def test_opening_does_not_reset_the_gauge_and_sets_its_low_voltage_alert(clock):
    bus, chip = bus_with_gauge(clock, percent=50.0)
    MAX17048Gauge(bus)
    assert chip.resets == 0
    assert chip.register(0x14) >> 8 == round(3.3 / 0.02)   # VALRT.MIN


def test_a_cell_below_the_alert_voltage_raises_the_chips_alert_bit_and_the_driver_clears_it(clock):
    bus, chip = bus_with_gauge(clock, percent=3.0)
    gauge = MAX17048Gauge(bus)   # sets VALRT.MIN to 3.3 V; 3 % rests at 3.45 V
    assert gauge.read().voltage_low is False
    gauge.chip.voltage_alert_min = 3.5   # the chip now finds the cell below its minimum
    assert chip.register(CONFIG) & ALRT
    assert gauge.read().voltage_low is True
    assert chip.register(STATUS) >> 8 & VL   # still low: the chip sets it again at once
    gauge.chip.voltage_alert_min = 3.3   # the cell recovered (a charger)
    gauge.read()   # the flag raised before the recovery, told once more and cleared
    assert gauge.read().voltage_low is False


def test_no_gauge_on_the_bus_is_a_clear_oserror(clock):
    bus = FakeSSD1306Bus()
    with pytest.raises(OSError) as raised:
        MAX17048Gauge(bus)
    assert raised.value.errno == errno.ENXIO and "0x36" in str(raised.value)


def test_a_gauge_that_stops_answering_raises_oserror_and_comes_back(clock):
    bus, chip = bus_with_gauge(clock, percent=55.0)
    gauge = MAX17048Gauge(bus)
    chip.unplug()
    with pytest.raises(OSError):
        gauge.read()
    chip.plug_in()
    assert gauge.read().percent == pytest.approx(55.0, abs=1 / 256)


def test_the_gauge_and_the_panel_share_the_bus(clock):
    bus, chip = bus_with_gauge(clock, percent=70.0)
    display = OledDisplay(bus)
    gauge = MAX17048Gauge(bus)
    picture = Image.new("1", (128, 64), 0)
    picture.putpixel((5, 5), 1)
    display.show(picture)
    assert gauge.read().percent == pytest.approx(70.0, abs=1 / 256)
    assert bus.image().getpixel((5, 5)) and bus.scan() == [0x36, 0x3C]
    assert bus.errors == []


def test_the_library_constructor_resets_the_fake_as_the_chip_would(clock, monkeypatch):
    import adafruit_max1704x

    monkeypatch.setattr(adafruit_max1704x.time, "sleep", lambda seconds: clock.advance(seconds))
    bus, chip = bus_with_gauge(clock, percent=42.0)
    adafruit_max1704x.MAX17048(bus)   # the reset write is not acknowledged: the library expects that
    assert chip.resets == 1
    assert chip.register(STATUS) >> 8 & 0x01 == 0   # the library cleared the reset indicator


@settings(derandomize=True, deadline=None, max_examples=60)
@given(percent=st.floats(0, 100), rate=st.floats(-50, 50), minutes=st.floats(0, 600))
def test_any_cell_reads_back_within_the_registers_resolution(percent, rate, minutes):
    clock = VirtualClock()
    bus, chip = bus_with_gauge(clock, percent=percent, percent_per_hour=rate)
    gauge = MAX17048Gauge(bus)
    clock.advance(minutes * 60)
    reading = gauge.read()
    assert 0.0 <= reading.percent <= 100.0
    assert reading.percent == pytest.approx(chip.percent, abs=1 / 256)
    assert reading.volts == pytest.approx(chip.volts, abs=78.125e-6)


def test_the_chips_empty_alert_reads_through_the_library_once_per_crossing(clock):
    bus, chip = bus_with_gauge(clock, percent=4.5, percent_per_hour=-60.0)   # 1 % a minute
    library = MAX17048Gauge(bus).chip
    library.reset_alert = False   # the power-on reset indicator the chip starts with
    library._alert_status = False
    assert not library.SOC_low_alert and not library.active_alert
    clock.advance(31)   # 3.98 %: below the default empty threshold, 32 - ATHD (0x1C) = 4 %
    assert library.SOC_low_alert and library.active_alert and library.alert_reason & 0x10
    library.SOC_low_alert = False
    library._alert_status = False
    clock.advance(30)
    assert not library.SOC_low_alert and not library.active_alert   # still below: no new crossing
    chip.set(percent=50.0, percent_per_hour=-60.0 * 50)   # charged, then drained fast
    assert not library.SOC_low_alert
    clock.advance(60)
    assert library.SOC_low_alert and library.active_alert
