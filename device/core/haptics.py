"""The haptic vocabulary and its player.

A pattern is a rhythm of pulses, so a person can tell cues apart with eyes closed
by their rhythm, not just their length. Every pulse starts with a short full-duty
kick, because an ERM motor at a low duty may not start spinning at all.

The player never sleeps: it turns a pattern into (time, duty) steps and the app's
loop applies them as their deadlines come (`due(now)`), on the same clock as the
pacing. A new pattern replaces the one playing unless that one matters more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Pattern:
    name: str
    pulses: tuple[tuple[float, float], ...]   # (on seconds, off seconds after it)
    priority: int                             # a pattern playing is only cut by one of equal or higher priority
    meaning: str
    scaled_by_zone: bool = False              # stroke ticks follow the zone's intensity; cues don't
    full_strength: bool = False               # the click must be felt at any level
    interjects: bool = False                  # slipped in front of what plays, which then carries on


def _pulses(*timings_ms: int) -> tuple[tuple[float, float], ...]:
    """_pulses(on, off, on, off, ..., on) in milliseconds."""
    seconds = [ms / 1000 for ms in timings_ms] + [0.0]
    return tuple(zip(seconds[0::2], seconds[1::2]))


PATTERNS: dict[str, Pattern] = {p.name: p for p in (
    # A press must be felt at once, even during a cue, and must not swallow the cue.
    Pattern("click", _pulses(30), 0, "button felt at once on the press, before the gesture is known",
            full_strength=True, interjects=True),
    Pattern("tick", _pulses(70), 1, "one stroke, at the zone's tempo and intensity", scaled_by_zone=True),
    Pattern("zone_start", _pulses(350, 120, 90), 3, "long-short: next zone, move on"),
    Pattern("switch_side", _pulses(90, 90, 90), 3, "two quick taps: switch to the other side"),
    Pattern("session_done", _pulses(120, 120, 120, 120, 600), 4, "short-short-long: routine finished"),
    Pattern("level", (), 3, "n taps for intensity level n (hold in idle)"),
    # Ranked below every cue: the person needs the cues to pace by feel while the screen is out.
    Pattern("error", _pulses(300, 100, 300, 100, 300, 100, 300), 2,
            "four long buzzes, once: the screen stopped answering; pacing goes on by feel"),
)}


def rhythm_text(pattern: Pattern) -> str:
    """ "350 on, 120 off, 90 on" (milliseconds): the rhythm as the README's haptic table shows it."""
    parts = []
    for on, off in pattern.pulses:
        parts.append(f"{round(on * 1000)} on")
        if off:
            parts.append(f"{round(off * 1000)} off")
    return ", ".join(parts)


def level_pattern(level: int) -> Pattern:
    """n even taps, so the chosen intensity can be counted without looking."""
    base = PATTERNS["level"]
    return Pattern(base.name, _pulses(*([120, 150] * level)[:-1]), base.priority, base.meaning)


WEAKEST = 1 / 25   # strength of level 1 on a zone of intensity 1


@dataclass(frozen=True)
class MotorLevels:
    """Maps strength to PWM duty: the weakest there is (level 1 on a zone of intensity 1) runs
    at `min_duty`, the strongest (5 on 5) at `max_duty`."""

    min_duty: float = 0.35
    max_duty: float = 1.0
    kick_seconds: float = 0.025

    def duty(self, strength: float) -> float:
        share = (min(1.0, max(WEAKEST, strength)) - WEAKEST) / (1.0 - WEAKEST)
        return self.min_duty + (self.max_duty - self.min_duty) * share


def strength(person_level: int, zone_intensity: int = 5) -> float:
    """The person's level (1..5) scales the whole routine; zone intensity (1..5) is relative."""
    return (person_level * zone_intensity) / 25


def steps_for(pattern: Pattern, start: float, duty: float, kick_seconds: float) -> list[tuple[float, float]]:
    """(time, duty) steps for one playing of `pattern` beginning at `start`."""
    steps, at = [], start
    for on, off in pattern.pulses:
        if duty < 1.0 and on > kick_seconds:
            steps += [(at, 1.0), (at + kick_seconds, duty)]
        else:
            steps.append((at, 1.0 if on <= kick_seconds else duty))
        steps.append((at + on, 0.0))
        at += on + off
    return steps


class HapticPlayer:
    """Plays patterns on a motor, one at a time, by deadlines on the app's clock."""

    def __init__(self, set_duty: Callable[[float], None], *, levels: MotorLevels = MotorLevels(),
                 enabled: bool = True, on_play: Callable[[str], None] | None = None) -> None:
        self._set_duty = set_duty
        self._levels = levels
        self.enabled = enabled
        self._on_play = on_play
        self._steps: list[tuple[float, float]] = []
        self._playing: Pattern | None = None    # the pattern under way (clicks aside)
        self._click_until = float("-inf")
        self._duty = 0.0

    def retune(self, levels: MotorLevels, *, enabled: bool) -> None:
        """New strengths (and haptics on or off) from the next pattern on."""
        self._levels, self.enabled = levels, enabled

    def play(self, pattern: Pattern | str, now: float, *, person_level: int = 3,
             zone_intensity: int = 5) -> bool:
        """Start `pattern` now; returns False if haptics are off or a weightier pattern is playing.

        The click is slipped in front of whatever plays, which carries on right after it;
        a pattern that arrives during a click starts when the click ends.
        """
        if isinstance(pattern, str):
            pattern = PATTERNS[pattern]
        if not self.enabled:
            return False
        level = 1.0 if pattern.full_strength else strength(
            person_level, zone_intensity if pattern.scaled_by_zone else 5)
        steps = steps_for(pattern, now, self._levels.duty(level), self._levels.kick_seconds)
        if pattern.interjects:
            self._interject(steps, now)
        else:
            if self._playing is not None and self._steps and pattern.priority < self._playing.priority:
                return False
            start = max(now, self._click_until)
            if start > now:   # a click is under way: let it finish first
                steps = steps_for(pattern, start, self._levels.duty(level), self._levels.kick_seconds)
            self._steps = [step for step in self._steps if step[0] < start] + steps
            self._playing = pattern
        if self._on_play:
            self._on_play(pattern.name)
        self.due(now)
        return True

    def _interject(self, click: list[tuple[float, float]], now: float) -> None:
        end = click[-1][0]
        rest = [(max(at, now) + end - now, duty) for at, duty in self._steps]
        back_to = self._duty if rest else 0.0   # a pulse that was on goes on again after the click
        self._steps = click[:-1] + [(end, back_to)] + rest
        self._click_until = end

    def due(self, now: float) -> None:
        """Apply every step whose time has come (the last one wins)."""
        duty = None
        while self._steps and self._steps[0][0] <= now:
            duty = self._steps.pop(0)[1]
        if duty is not None:
            self._apply(duty)
        if not self._steps:
            self._playing = None

    def next_deadline(self) -> float | None:
        return self._steps[0][0] if self._steps else None

    @property
    def busy(self) -> bool:
        return bool(self._steps)

    @property
    def playing(self) -> str | None:
        """The name of the pattern under way (clicks aside), or None; read by the year drill to tell
        a cue drowned by a weightier pattern from one lost otherwise."""
        return self._playing.name if self._playing is not None else None

    def stop(self) -> None:
        """Motor off now; forget the pattern (pause, shutdown)."""
        self._steps.clear()
        self._playing = None
        self._click_until = float("-inf")
        self._apply(0.0)

    def _apply(self, duty: float) -> None:
        if duty != self._duty or duty == 0.0:
            self._duty = duty
            self._set_duty(duty)
