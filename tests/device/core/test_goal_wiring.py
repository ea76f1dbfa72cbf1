"""The weekly goal, the gentle start, the zone's caution, rests and the safety pages on the running
device: the composition root on simulated parts (mock pins, the real panel driver on the fake bus),
the virtual clock, and a wall clock that follows it from a fixed date. Assertions are on the idle
and summary views the panel shows, the motor pin's duties, the glass and the state folder."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import ImageChops

from device.core.assemble import SAFETY_SHOWN_FILE, assemble
from device.core.clock import VirtualClock
from device.core.haptics import MotorLevels, strength
from device.core.parts import simulated_parts
from device.core.state import State
from device.log.clockfix import HostWallClock
from device.log.sessionlog import SessionLog
from device.screen.safety import SAFETY_PAGES, safety_view
from device.screen.screens import render
from device.screen.views import IdleView, RestView, SummaryView, ZoneView
from device.settings.config import Config
from device.settings.owner import Owned
from device.settings.ownerstore import OwnerStore
from device.settings.routines import CAUTION_SECONDS, load_library
from device.sim.simulator import finger_downs

AUCKLAND = ZoneInfo("Pacific/Auckland")   # UTC+13 in December: its Monday morning is Sunday in UTC


def wall(text: str, tz=AUCKLAND) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


class Device:
    """One start of the device on a state folder, its wall clock at `wall_origin` when its
    virtual clock reads 0."""

    def __init__(self, state_dir, wall_origin: float, *, config: Config = Config(), safety_pages: bool = False,
                 routine_name: str = "quick") -> None:
        self.config = config
        self.clock = VirtualClock()
        wall_clock = HostWallClock(system_time=lambda: wall_origin + self.clock.now())
        self.parts = simulated_parts(config, self.clock, state_dir=state_dir, wall_clock=wall_clock)
        self.device = assemble(config, list(load_library(None).routines), self.parts, routine_name=routine_name,
                               safety_pages=safety_pages)
        self.app = self.device.app
        self.motor_pin = self.parts.pins.pin(config.motor.pin)

    def gesture(self, at: float, gesture: str) -> None:
        pin = self.parts.pins.pin(self.config.button.pin)
        for down, up in finger_downs(at, gesture, hold_seconds=self.config.button.hold_seconds):
            self.clock.call_at(down, pin.drive_low)
            self.clock.call_at(up, pin.drive_high)

    def run_to(self, seconds: float) -> None:
        self.clock.call_at(seconds, lambda: None)
        self.device.run(until=lambda: self.clock.now() >= seconds)

    def view(self):
        return self.app.view(self.clock.now())

    def glass_shows(self, view) -> bool:
        return ImageChops.difference(self.parts.bus.image().convert("1"), render(view).convert("1")).getbbox() is None

    def close(self) -> None:
        self.device.close()


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def devices():
    started: list[Device] = []
    yield started
    for device in started:
        device.close()


def log_sessions(state_dir, starts: list[float], *, routine: str = "quick", seconds: float = 180.0) -> None:
    """Sessions done before the device starts, as the log keeps them."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with SessionLog.open(state_dir / "sessions.db") as log:
        for start in starts:
            session_id = log.begin(routine, "h", 3, [("neck", seconds)], mono_start=0.0, wall_start=start)
            log.finish(session_id, "completed", [], seconds, start + seconds, mono_end=seconds)


def from_the_computer(state_dir, **settings) -> None:
    OwnerStore(state_dir / "owner").save(Owned(settings))


# --- the weekly goal on the idle and summary screens ------------------------------------------------

def test_idle_dots_and_summary_follow_the_persons_week_across_its_boundary(state_dir, devices):
    """Goal 3 days, in Auckland. Thursday, Friday and Sunday met last week; at midnight the
    idle screen starts a new week with the streak kept; a session on Monday morning (still
    Sunday in UTC) is this week's first day, on the summary and then the idle screen."""
    from_the_computer(state_dir, weekly_goal=3, time_zone="Pacific/Auckland", gentle_sessions=0)
    log_sessions(state_dir, [wall("2026-12-03 08:00"), wall("2026-12-04 08:00"), wall("2026-12-06 08:00")])
    device = Device(state_dir, wall("2026-12-06 23:58:00"))
    devices.append(device)
    device.run_to(1.0)
    idle = device.view()
    assert (idle.week_done, idle.week_goal, idle.streak_weeks) == (3, 3, 1)
    assert device.glass_shows(idle)
    device.run_to(150.0)                                   # Monday 00:00:30 in Auckland
    idle = device.view()
    assert (idle.week_done, idle.week_goal, idle.streak_weeks) == (0, 3, 1)   # met last week: kept
    assert device.glass_shows(idle)
    device.gesture(151.0, "press")                         # the quick routine: 3 minutes
    device.run_to(151.0 + 0.5 + 180.0 + 1.0)
    assert device.app.state is State.SUMMARY
    assert device.view().streak == "Week: 1 of 3 days"
    assert device.glass_shows(device.view())
    device.gesture(device.clock.now() + 1.0, "press")      # back to idle
    device.run_to(device.clock.now() + 3.0)
    idle = device.view()
    assert (idle.week_done, idle.streak_weeks) == (1, 1)


def test_the_summary_says_when_the_week_is_met(state_dir, devices):
    from_the_computer(state_dir, weekly_goal=2, time_zone="Pacific/Auckland", gentle_sessions=0)
    log_sessions(state_dir, [wall("2026-12-08 08:00")])
    device = Device(state_dir, wall("2026-12-09 08:00"))
    devices.append(device)
    device.gesture(1.0, "press")
    device.run_to(1.0 + 0.5 + 180.0 + 1.0)
    assert device.view().streak == "Week's goal met!"


# --- the gentle start ------------------------------------------------------------------------------

def zone_start_duty(device: Device, after: float) -> float:
    """The duty the first cue after `after` runs at (after its full-duty kick)."""
    return next(duty for at, duty in device.motor_pin.timeline() if at >= after and 0 < duty < 1.0)


def duty_at_level(level: int) -> float:
    motor = Config().motor
    return MotorLevels(motor.min_duty, motor.max_duty, motor.kick_ms / 1000).duty(strength(level, 5))


def test_the_gentle_start_caps_the_buzz_and_a_hold_overrides_it_for_good(state_dir, devices):
    """Three sessions done of five gentle ones: the chosen level 3 is felt at 2. A hold (level 4)
    during the gentle start is the person's choice: felt as chosen, and kept after a restart."""
    log_sessions(state_dir, [wall("2026-12-07 08:00"), wall("2026-12-08 08:00"), wall("2026-12-09 08:00")])
    device = Device(state_dir, wall("2026-12-10 08:00"))
    devices.append(device)
    device.run_to(1.0)
    assert device.view().status == "Gentle start 4 of 5"
    device.gesture(2.0, "press")
    device.run_to(10.0)
    assert device.app.intensity == 3
    assert zone_start_duty(device, 2.0) == pytest.approx(duty_at_level(2))
    device.gesture(11.0, "hold")                          # end the session
    device.gesture(15.0, "press")                         # the summary away
    device.gesture(17.0, "hold")                          # idle: the next level, 4
    device.run_to(20.0)
    assert device.app.state is State.IDLE and device.app.intensity == 4
    assert json.loads((state_dir / "choices.json").read_text())["overridden"] is True
    device.close()
    devices.remove(device)

    again = Device(state_dir, wall("2026-12-10 09:00"))
    devices.append(again)
    again.gesture(1.0, "press")
    again.run_to(10.0)
    assert again.app.intensity == 4
    assert zone_start_duty(again, 1.0) == pytest.approx(duty_at_level(4))


# --- the zone's caution ------------------------------------------------------------------------------

def test_the_caution_shows_in_the_zones_first_seconds_then_the_cue(state_dir, devices):
    device = Device(state_dir, wall("2026-12-10 08:00"), config=dataclasses.replace(
        Config(), goal=dataclasses.replace(Config().goal, gentle_sessions=0)))
    devices.append(device)
    device.gesture(1.0, "press")                          # under-eye 100 s into the session
    device.run_to(1.0 + 100.0 + 1.0)
    under_eye = device.app.pacer.zone_started_at
    shown = device.view()
    assert shown.zone_title == "Under-eye" and shown.caution.startswith("Lightest touch")
    assert device.glass_shows(shown)
    device.run_to(under_eye + CAUTION_SECONDS - 0.01)
    assert device.glass_shows(device.view()) and device.view().caution is not None
    device.run_to(under_eye + CAUTION_SECONDS)
    shown = device.view()
    assert shown.caution is None and device.glass_shows(shown)   # redrawn at its instant


# --- rests ------------------------------------------------------------------------------------

def test_a_press_while_resting_asks_first(state_dir, devices):
    from_the_computer(state_dir, time_zone="Pacific/Auckland", rest_periods=["2026-12-09/2026-12-14"])
    device = Device(state_dir, wall("2026-12-10 08:00"))
    devices.append(device)
    device.run_to(1.0)
    assert device.view().status == "Rest until Mon 14 Dec"
    device.gesture(2.0, "press")
    device.run_to(4.0)
    assert device.view() == RestView("Mon 14 Dec") and device.glass_shows(RestView("Mon 14 Dec"))
    device.gesture(5.0, "hold")                           # keep resting
    device.run_to(8.0)
    assert device.app.state is State.IDLE
    device.gesture(9.0, "press")
    device.gesture(11.0, "press")                         # start anyway
    device.run_to(13.0)
    assert device.app.state is State.RUNNING and isinstance(device.view(), ZoneView)


def test_the_rest_question_goes_away_by_itself(state_dir, devices):
    from_the_computer(state_dir, time_zone="Pacific/Auckland", rest_periods=["2026-12-09/2026-12-14"])
    device = Device(state_dir, wall("2026-12-10 08:00"))
    devices.append(device)
    device.gesture(1.0, "press")
    device.run_to(3.0)
    assert device.app.state is State.REST_CONFIRM
    device.run_to(1.5 + Config().timeouts.summary_return + 0.1)
    assert device.app.state is State.IDLE


# --- the safety pages --------------------------------------------------------------------------

def read_safety_pages(device: Device, start: float) -> float:
    for page in range(len(SAFETY_PAGES)):
        assert device.view() == safety_view(page) and device.glass_shows(safety_view(page))
        device.gesture(start + page * 2.0, "press")
        device.run_to(start + page * 2.0 + 1.0)
    return start + len(SAFETY_PAGES) * 2.0


def test_the_first_run_shows_the_safety_pages_once(state_dir, devices):
    device = Device(state_dir, wall("2026-12-10 08:00"), safety_pages=True)
    devices.append(device)
    device.run_to(0.5)
    read_safety_pages(device, 1.0)
    assert isinstance(device.view(), IdleView)
    assert (state_dir / SAFETY_SHOWN_FILE).exists()
    device.close()
    devices.remove(device)
    again = Device(state_dir, wall("2026-12-10 09:00"), safety_pages=True)
    devices.append(again)
    again.run_to(0.5)
    assert isinstance(again.view(), IdleView)


def test_a_hold_on_the_summary_shows_the_safety_pages_again(state_dir, devices):
    (state_dir).mkdir(parents=True)
    (state_dir / SAFETY_SHOWN_FILE).write_text("shown\n")
    device = Device(state_dir, wall("2026-12-10 08:00"), safety_pages=True)
    devices.append(device)
    device.gesture(1.0, "press")
    device.gesture(3.0, "hold")                           # end the session
    device.gesture(6.0, "hold")                           # on the summary: the safety pages
    device.run_to(9.0)
    assert device.app.state is State.SAFETY
    read_safety_pages(device, 10.0)
    assert isinstance(device.view(), IdleView)


def test_a_hold_on_the_injectables_page_sets_a_rest_kept_through_the_owner_store(state_dir, devices):
    from_the_computer(state_dir, time_zone="Pacific/Auckland", anchor="After brushing teeth")
    device = Device(state_dir, wall("2026-12-10 08:00"), safety_pages=True)
    devices.append(device)
    device.run_to(0.5)
    assert device.view() == safety_view(0)
    device.gesture(1.0, "press")
    device.gesture(3.0, "hold")                           # "After injectables": rest two weeks
    device.run_to(6.0)
    assert device.view() == safety_view(2)
    owned = OwnerStore(state_dir / "owner").load().owned.settings
    assert owned["rest_periods"] == ["2026-12-10/2026-12-23"]
    assert owned["anchor"] == "After brushing teeth"   # the computer's other settings are kept
    device.gesture(7.0, "press")
    device.gesture(9.0, "press")
    device.run_to(10.0)
    assert device.view().status == "Rest until Wed 23 Dec"


def test_a_hold_on_another_safety_page_does_nothing(state_dir, devices):
    device = Device(state_dir, wall("2026-12-10 08:00"), safety_pages=True)
    devices.append(device)
    device.gesture(1.0, "hold")
    device.run_to(4.0)
    assert device.view() == safety_view(0)
    assert not (state_dir / "owner").exists()


def test_a_safety_page_left_alone_dims_and_a_press_on_it_dark_only_wakes_it(state_dir, devices):
    timeouts = Config().timeouts
    device = Device(state_dir, wall("2026-12-10 08:00"), safety_pages=True)
    devices.append(device)
    device.run_to(timeouts.dim_after + 1.0)
    assert device.app.brightness == "dim"
    device.run_to(timeouts.off_after + 1.0)
    assert device.app.brightness == "off"
    device.gesture(timeouts.off_after + 2.0, "press")
    device.run_to(timeouts.off_after + 4.0)
    assert device.app.brightness == "normal" and device.view() == safety_view(0)


def test_a_power_off_hold_undoes_the_gentle_override_of_its_first_seconds(state_dir, devices):
    log_sessions(state_dir, [wall("2026-12-09 08:00")])
    device = Device(state_dir, wall("2026-12-10 08:00"))
    devices.append(device)
    pin = device.parts.pins.pin(device.config.button.pin)
    device.clock.call_at(1.0, pin.drive_low)               # held on to the power-off
    device.run_to(12.0)
    assert device.app.state is State.OFF
    kept = json.loads((state_dir / "choices.json").read_text())
    assert (kept["intensity"], kept["overridden"]) == (3, False)
