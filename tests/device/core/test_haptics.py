"""Haptic patterns on gpiozero's own mock PWM pin, timed by the injected clock."""

import pytest

from device.core.clock import VirtualClock
from device.core.haptics import PATTERNS, HapticPlayer, MotorLevels, level_pattern, steps_for, strength
from drivers.fakes.pins import ClockedMockFactory
from drivers.motor import VibrationMotor


@pytest.fixture
def rig():
    clock = VirtualClock()
    factory = ClockedMockFactory(clock)
    motor = VibrationMotor(18, pin_factory=factory)
    played = []
    player = HapticPlayer(motor.set, levels=MotorLevels(0.4, 1.0, 0.025), on_play=played.append)
    yield clock, motor, player, played
    motor.close()


def run(clock, player, until):
    while (d := player.next_deadline()) is not None and d <= until:
        clock.advance_to(d)
        player.due(d)


def test_weak_pulse_starts_with_full_duty_kick(rig):
    clock, motor, player, _ = rig
    clock.advance_to(10.0)
    player.play("tick", clock.now(), person_level=1, zone_intensity=1)
    run(clock, player, 11)
    timeline = motor.pin.timeline()[1:]
    assert timeline[0] == (10.0, 1.0)
    assert timeline[1][0] == pytest.approx(10.025) and timeline[1][1] == pytest.approx(0.4)   # min_duty
    assert timeline[2][0] == pytest.approx(10.07) and timeline[2][1] == 0.0


def test_click_is_a_short_full_tap(rig):
    clock, motor, player, _ = rig
    player.play("click", 0.0)
    run(clock, player, 1)
    assert [v for _, v in motor.pin.timeline()[1:]] == [1.0, 0.0]


def rhythm(pattern):
    """The pattern's shape with its overall length divided out."""
    longest = max(on for on, _ in pattern.pulses)
    return tuple((round(on / longest, 2), round(off / longest, 2)) for on, off in pattern.pulses)


def test_cues_differ_in_rhythm_not_just_length():
    cues = [p for name, p in PATTERNS.items() if p.pulses and name not in ("click", "tick")]
    shapes = [rhythm(p) for p in cues]
    assert len(set(shapes)) == len(shapes), dict(zip([p.name for p in cues], shapes))


def test_higher_priority_is_not_cut_by_tick(rig):
    clock, motor, player, played = rig
    player.play("switch_side", 0.0)
    assert not player.play("tick", 0.05)
    assert played == ["switch_side"]


def test_stop_turns_motor_off_at_once(rig):
    clock, motor, player, _ = rig
    player.play("error", 0.0)
    assert motor.duty == 1.0
    player.stop()
    assert motor.duty == 0.0 and player.next_deadline() is None


def test_haptics_off_never_moves_the_motor(rig):
    clock, motor, player, _ = rig
    player.enabled = False
    assert not player.play("session_done", 0.0)
    assert motor.pin.timeline() == [(0.0, False)]


def test_level_pattern_has_n_taps():
    for n in range(1, 6):
        assert len(level_pattern(n).pulses) == n


def test_every_pattern_ends_off():
    for p in PATTERNS.values():
        steps = steps_for(p, 0.0, 0.5, 0.025)
        assert not steps or steps[-1][1] == 0.0


def test_click_is_felt_even_over_a_cue(rig):
    clock, motor, player, played = rig
    player.play("zone_start", 0.0)
    clock.advance_to(0.1)
    player.due(0.1)
    assert player.play("click", 0.1)
    assert motor.duty == 1.0 and played == ["zone_start", "click"]


def test_a_click_during_a_cue_is_felt_and_the_cue_carries_on(rig):
    clock, motor, player, played = rig
    player.play("zone_start", 0.0)              # 350 on, 120 off, 90 on
    clock.advance_to(0.1)
    player.due(0.1)
    on_level = motor.duty
    assert player.play("click", 0.1)
    assert motor.duty == 1.0
    run(clock, player, 2.0)
    after = [(round(t, 3), v) for t, v in motor.pin.timeline() if t >= 0.1]
    # the click, then the cue's pulse again, shifted by the click's 30 ms
    assert after == [(0.1, on_level), (0.1, 1.0), (0.13, on_level), (0.38, 0.0),
                     (0.5, 1.0), (0.525, on_level), (0.59, 0.0)]


def test_a_cue_arriving_during_a_click_starts_when_the_click_ends(rig):
    """Skipping a zone by double press: the second press's click must not swallow the
    zone-start cue that follows it at once."""
    clock, motor, player, played = rig
    clock.advance_to(5.0)
    player.play("click", 5.0)
    clock.advance_to(5.01)
    assert player.play("zone_start", 5.01)
    run(clock, player, 7.0)
    level = motor.pin.timeline()[2][1]
    moments = [(round(t, 3), v) for t, v in motor.pin.timeline() if t >= 5.0]
    # the click's pulse runs straight into the cue (350 on, 120 off, 90 on) at 5.03
    assert moments == [(5.0, 1.0), (5.055, level), (5.38, 0.0), (5.5, 1.0), (5.525, level), (5.59, 0.0)]
    assert played == ["click", "zone_start"]


def test_duty_spans_exactly_the_configured_limits():
    levels = MotorLevels(0.3, 0.9, 0.025)
    assert levels.duty(strength(1, 1)) == pytest.approx(0.3)
    assert levels.duty(strength(5, 5)) == pytest.approx(0.9)
    assert 0.3 < levels.duty(strength(3, 3)) < levels.duty(strength(3, 4)) < 0.9


def test_the_error_pattern_never_cuts_a_cue_and_any_cue_cuts_it(rig):
    clock, motor, player, played = rig
    for cue in ("zone_start", "switch_side", "session_done"):
        player.stop()
        assert player.play(cue, clock.now())
        assert not player.play("error", clock.now()), cue
    run(clock, player, clock.now() + 5)
    assert player.play("error", clock.now())
    assert not player.play("tick", clock.now() + 0.1)   # a tick never cuts it
    cut_at = clock.now() + 0.2
    run(clock, player, cut_at)
    assert player.play("switch_side", cut_at)           # a cue does, and nothing of it is left
    run(clock, player, cut_at + 5)
    assert clock.now() == pytest.approx(cut_at + 0.27) and motor.duty == 0.0


def test_playing_names_the_pattern_under_way_until_it_ends(rig):
    clock, motor, player, played = rig
    assert player.playing is None
    assert player.play("error", clock.now())
    assert player.play("click", clock.now())          # a click slips in: the error still plays
    assert player.playing == "error"
    assert player.play("zone_start", clock.now())
    assert player.playing == "zone_start"
    run(clock, player, clock.now() + 5)
    assert player.playing is None and motor.duty == 0.0
