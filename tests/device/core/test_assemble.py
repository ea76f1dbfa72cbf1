"""The composition root on the builders' parts: `assemble()` is what `facepace run`, the simulator
and the benchmarks run, so here it is driven at its pins and read at its pins, its bus and its log."""

import dataclasses

import pytest
from PIL import Image, ImageChops

from device.core.assemble import assemble
from device.core.clock import VirtualClock
from device.core.events import Stop
from device.core.parts import real_parts, simulated_parts
from device.log.sessionlog import SessionLog
from device.screen.screens import render
from device.screen.views import IdleView
from device.settings.config import Config
from device.settings.routines import load_library
from drivers.errors import NoHardwareError

# A first start with a log: this week's dots, none done yet, and the gentle start's first session.
FIRST_IDLE = render(IdleView("Daily glow", 490, 1, 4, 3, week_done=0, week_goal=5, status="Gentle start 1 of 5"))


def same_picture(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a.convert("1"), b.convert("1")).getbbox() is None


def test_the_simulated_builders_parts_drive_the_real_root(tmp_path):
    config, clock = Config(), VirtualClock()
    parts = simulated_parts(config, clock, state_dir=tmp_path / "state")
    traced = []
    with assemble(config, list(load_library(None).routines), parts,
                  traces=[lambda event, **fields: traced.append(event)]) as device:
        device.run(until=lambda: True)                   # one pass: the first frame
        assert same_picture(parts.bus.image(), FIRST_IDLE)   # the idle screen, on the glass
        button = parts.pins.pin(config.button.pin)       # the mock pin the root's button reads
        clock.call_at(1.0, button.drive_low)
        clock.call_at(1.12, button.drive_high)
        clock.call_at(3.0, lambda: None)
        device.run(until=lambda: clock.now() >= 3.0)
        motor = parts.pins.pin(config.motor.pin).timeline()
        assert [at for at, duty in motor if duty][0] == 1.0   # the click, at the press's instant
        assert "session_start" in traced
        assert not same_picture(parts.bus.image(), FIRST_IDLE)   # the zone screen now
        device.events.put(Stop("test"))
        device.run()
    assert parts.pins.pin(config.motor.pin).timeline()[-1][1] == 0
    assert not parts.bus.powered                          # closing cleared the panel and turned it off
    with SessionLog.open(tmp_path / "state" / "sessions.db") as log:
        [session] = log.sessions()
    assert session.outcome == "ended_early"


def test_without_a_state_folder_nothing_is_kept(tmp_path):
    config, clock = Config(), VirtualClock()
    with assemble(config, list(load_library(None).routines), simulated_parts(config, clock)) as device:
        assert device.recorder is None
        device.run(until=lambda: True)


def test_a_service_runs_on_the_loop_at_its_deadline():
    config, clock = Config(), VirtualClock()
    polled = []

    class Alarm:
        def next_deadline(self):
            return 5.0 if not polled or polled[-1] < 5.0 else None

        def poll(self, now):
            polled.append(now)

    with assemble(config, list(load_library(None).routines), simulated_parts(config, clock),
                  services=[Alarm()]) as device:
        device.run(until=lambda: clock.now() >= 5.0)
    assert polled[0] == 0.0 and polled[-1] == 5.0     # woken at its deadline, not before or after


def test_the_real_builder_opens_the_panel_on_the_configured_bus(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPACE_STATE_DIR", str(tmp_path))
    config = Config()
    config = dataclasses.replace(config, display=dataclasses.replace(config.display, bus=97))
    parts = real_parts(config)
    assert parts.pins is None                 # gpiozero's own pin factory: the Pi's GPIO
    assert parts.state_dir == tmp_path and parts.clock.boot_time
    with pytest.raises(NoHardwareError, match="/dev/i2c-97"):
        parts.open_panel()
