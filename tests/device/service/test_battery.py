"""The battery on the loop: the real root on simulated parts, a register-level MAX17048 on the fake
I2C bus under the real adafruit driver, every instant on the virtual clock."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageChops

from device.core.assemble import assemble
from device.core.events import BatteryStatus
from device.core.clock import VirtualClock
from device.core.parts import simulated_parts
from device.log import logdb
from device.log.sessionlog import SessionLog
from device.screen.screens import fits, layout, render
from device.screen.views import BatteryView
from device.core.battery import READ_EVERY_SECONDS, BatteryMonitor, recall
from device.settings.config import Config
from device.settings.routines import load_library
from drivers.battery import MAX17048Gauge
from drivers.fakes.i2c import FakeSSD1306Bus
from drivers.fakes.max17048 import FakeMAX17048

QUICK_SECONDS = 180.0   # the built-in quick routine


def battery_config(**battery) -> Config:
    config = Config()
    return dataclasses.replace(config, battery=dataclasses.replace(config.battery, enabled=True, **battery))


class Device:
    """The assembled device with a fuel gauge at `percent`, moving `per_minute` % a minute."""

    def __init__(self, tmp_path, *, percent: float, per_minute: float = 0.0, routine: str = "quick",
                 config: Config | None = None) -> None:
        self.config = config or battery_config()
        self.clock = VirtualClock()
        self.gauge = FakeMAX17048(self.clock, percent=percent, percent_per_hour=60 * per_minute)
        self.parts = simulated_parts(self.config, self.clock, state_dir=tmp_path / "state", gauge=self.gauge)
        self.traced: list[tuple[str, dict]] = []
        self.power_off_requests = 0
        self.device = assemble(self.config, list(load_library(None).routines), self.parts, routine_name=routine,
                               traces=[lambda event, **fields: self.traced.append((event, fields))],
                               request_power_off=self.request_power_off)
        self.app = self.device.app
        self.button = self.parts.pins.pin(self.config.button.pin)

    def request_power_off(self) -> None:
        self.power_off_requests += 1

    def press_at(self, at: float) -> None:
        self.clock.call_at(at, self.button.drive_low)
        self.clock.call_at(at + 0.12, self.button.drive_high)

    def run_until(self, when: float) -> None:
        self.clock.call_at(when, lambda: None)
        self.device.run(until=lambda: self.clock.now() >= when)

    def events(self, name: str) -> list[dict]:
        return [fields for event, fields in self.traced if event == name]

    def idle_battery(self) -> BatteryView | None:
        return self.app.view(self.clock.now()).battery

    def close(self) -> None:
        self.device.close()


@pytest.fixture
def make(tmp_path):
    made = []

    def build(**options) -> Device:
        device = Device(tmp_path, **options)
        made.append(device)
        return device

    yield build
    for device in made:
        device.close()


def notices(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def test_the_idle_screen_shows_the_charge_on_the_glass(make):
    device = make(percent=82.0)
    device.run_until(0.5)
    view = device.app.view(device.clock.now())
    assert view.battery == BatteryView(82.0, False, None)
    assert [item.text for item in layout(view) if item.name == "battery"] == ["Battery 82%"]
    assert fits(view) == []
    assert ImageChops.difference(device.parts.bus.image(), render(view).convert("1")).getbbox() is None


@pytest.mark.parametrize("battery, text", [
    (BatteryView(40.2, True), "Battery 40% charging"),
    (BatteryView(None), "Battery: no reading"),
    (BatteryView(64.0, False, 5), "64%, 5 sessions left"),
    (BatteryView(100.0, False, 1), "100%, 1 session left"),
    (BatteryView(100.0, False, 12), "100%, 12 left"),
])
def test_the_battery_line_says_the_longest_that_fits(battery, text):
    from device.screen.views import IdleView

    view = IdleView("Quick refresh", 180.0, 2, 4, 3, battery=battery)
    [line] = [item.text for item in layout(view) if item.name == "battery"]
    assert line == text and fits(view) == []


def test_charging_is_shown_when_the_gauge_sees_a_charger(make):
    device = make(percent=40.0)
    device.run_until(1.0)
    device.gauge.set(percent_per_hour=+30.0)
    device.run_until(READ_EVERY_SECONDS + 1)
    assert device.idle_battery() == BatteryView(40.2, True, None)


def test_below_the_warning_level_a_notice_once_and_nothing_stops(make, caplog):
    device = make(percent=16.0, per_minute=-1.0)   # below 15 % after 60 s
    device.press_at(1.0)
    device.run_until(100.0)
    assert [line for line in notices(caplog) if line.startswith("Battery low")] == [
        "Battery low: 14%, charge soon"]   # 14.5 % at the 90 s reading, once
    assert device.events("session_end") == [] and device.power_off_requests == 0


def test_below_the_critical_level_the_session_ends_for_low_battery_and_the_device_powers_off(make, tmp_path, caplog):
    device = make(percent=6.0, per_minute=-0.5)   # 5 % at 120 s (not below), 4.75 % at the 150 s reading
    device.press_at(1.0)
    device.run_until(200.0)
    [end] = device.events("session_end")
    assert end == {"reason": "low_battery", "at": 150.0}
    assert device.events("power_off") == [{"reason": "low_battery"}]
    assert device.power_off_requests == 1
    motor = device.parts.pins.pin(device.config.motor.pin).timeline()
    assert motor[-1][1] == 0.0 and motor[-1][0] <= 150.0   # no buzz after the reading
    assert "Battery empty: powering off" in notices(caplog)
    device.close()
    with SessionLog.open(tmp_path / "state" / "sessions.db") as log:
        [session] = log.sessions()
    assert session.outcome == "ended_early"
    assert logdb.end_reasons(sqlite3.connect(tmp_path / "state" / "sessions.db")) == {session.id: "low_battery"}


def test_below_the_critical_level_in_idle_it_powers_off_at_once(make):
    device = make(percent=4.0)
    device.press_at(1.0)
    device.run_until(5.0)
    assert device.events("power_off") == [{"reason": "low_battery"}]
    assert device.events("session_start") == []


def test_on_the_charger_below_the_critical_level_it_stays_on_but_starts_no_session(make, caplog):
    device = make(percent=4.0, per_minute=+0.5)
    device.press_at(1.0)
    device.run_until(60.0)
    assert device.events("session_start") == [] and device.power_off_requests == 0
    assert "Battery too low for a session: charge it first" in notices(caplog)
    device.run_until(200.0)   # 5 % at 120 s: no longer below the critical level
    device.press_at(201.0)
    device.run_until(205.0)
    assert len(device.events("session_start")) == 1


def test_a_gauge_that_stops_answering_is_a_notice_and_pacing_goes_on(make, caplog):
    device = make(percent=50.0)
    device.press_at(1.0)
    device.run_until(5.0)
    device.gauge.unplug()
    device.run_until(100.0)
    assert "Battery gauge not answering" in notices(caplog)
    assert len(device.events("zone_end")) == 2 and device.events("session_end") == []
    device.gauge.plug_in()
    device.press_at(200.0)   # the summary back to idle
    device.run_until(205.0)
    assert device.events("session_end")[0]["reason"] == "completed"
    assert device.idle_battery() == BatteryView(50.0, False, None)
    assert notices(caplog).count("Battery gauge not answering") == 1


def test_sessions_left_once_three_sessions_were_measured_and_kept_across_restarts(make, tmp_path):
    device = make(percent=80.0, per_minute=-1.0)   # a quick session (3 min) costs 3 %
    for number in range(3):
        start = 1.0 + number * 400.0
        device.press_at(start)
        device.press_at(start + QUICK_SECONDS + 10)   # dismiss the summary
        device.run_until(start + QUICK_SECONDS + 20)
        expected = None if number < 2 else BatteryView
        assert (device.idle_battery().sessions_left is None) == (expected is None)
    device.gauge.set(percent_per_hour=0.0)
    device.run_until(device.clock.now() + READ_EVERY_SECONDS)
    percent = device.gauge.percent
    assert device.idle_battery().sessions_left == int((percent - 5) / 3)
    device.close()
    again = make(percent=50.0)   # a new boot: what was learned is in the state folder
    again.run_until(0.5)
    assert again.idle_battery().sessions_left == int((50 - 5) / 3)   # 15


def test_a_monitor_without_a_gauge_says_unknown_and_keeps_trying():
    clock = VirtualClock()
    bus = FakeSSD1306Bus()
    told = []
    monitor = BatteryMonitor(lambda: MAX17048Gauge(bus), clock, told.append, warning_percent=15, critical_percent=5)
    monitor.poll(0.0)
    assert told[-1].level == "unknown" and monitor.next_deadline() == READ_EVERY_SECONDS
    bus.attach(FakeMAX17048(clock, percent=33.0))
    clock.advance(READ_EVERY_SECONDS)
    monitor.poll(clock.now())
    assert (told[-1].level, told[-1].percent) == ("ok", 33.0)


@settings(derandomize=True, deadline=None, max_examples=60)
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode)
       | st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.just("sessions"), inner),
                      max_leaves=12).map(lambda value: __import__("json").dumps(value).encode()))
def test_a_hostile_battery_memory_is_forgotten_never_fatal(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("card") / "battery.json"
    path.write_bytes(content)
    measured = recall(path)
    assert all(0 <= used <= 100 and 0 < minutes <= 24 * 60 for used, minutes in measured)


def test_a_missing_bus_is_unknown_too_never_a_stop(monkeypatch, tmp_path):
    from device.core.parts import real_parts
    from drivers.errors import NoHardwareError

    monkeypatch.setenv("FACEPACE_STATE_DIR", str(tmp_path))
    config = battery_config()
    config = dataclasses.replace(config, display=dataclasses.replace(config.display, bus=97))
    parts = real_parts(config)
    with pytest.raises(NoHardwareError, match="/dev/i2c-97"):
        parts.open_gauge()
    told = []
    monitor = BatteryMonitor(parts.open_gauge, VirtualClock(), told.append, warning_percent=15, critical_percent=5)
    monitor.poll(0.0)
    assert told == [BatteryStatus("unknown")]


def test_the_chips_low_voltage_alert_is_critical_whatever_the_charge_estimate():
    clock = VirtualClock()
    bus = FakeSSD1306Bus()
    bus.attach(FakeMAX17048(clock, percent=30.0))   # rests at 3.75 V
    gauges, told = [], []

    def open_gauge():
        gauges.append(MAX17048Gauge(bus))
        return gauges[-1]

    monitor = BatteryMonitor(open_gauge, clock, told.append, warning_percent=15, critical_percent=5)
    monitor.poll(0.0)
    assert told[-1].level == "ok"
    gauges[0].chip.voltage_alert_min = 3.8   # as if the cell sagged below the alert under load
    clock.advance(READ_EVERY_SECONDS)
    monitor.poll(clock.now())
    assert (told[-1].level, told[-1].percent) == ("critical", 30.0)
