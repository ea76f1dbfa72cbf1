"""The pacing plan of one running session: every deadline from the session start.

Each zone's start is the exact deadline of the previous zone's end (or the moment
of a skip), never "now when the loop noticed", so lateness does not accumulate:
a 10-minute routine ends when its plan says. Pausing freezes the plan; resuming
shifts the current zone's start, and with it every later deadline, by exactly the
pause length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from device.base.timefmt import ZONE_END_TOLERANCE_SECONDS, exact


@dataclass(frozen=True)
class Cue:
    """Something the plan says happens at `at` (seconds on the session's clock)."""

    kind: str          # zone_start, switch_side, tick, zone_end, session_end
    at: float
    zone_index: int
    reason: str = ""   # zone_end: done | skipped | ended; session_end: completed | ended_early | low_battery


@dataclass
class ZoneResult:
    zone_id: str
    planned_seconds: float
    done_seconds: float = 0.0
    outcome: str = "not_reached"   # done | skipped | ended | not_reached

    @property
    def skipped(self) -> bool:
        return self.outcome == "skipped"


@dataclass
class Pacer:
    """Cues for one pass through `zones` (enabled zones of a routine), from `started_at`.

    Only the plan is given; where the session has got to is the pacer's own (read-only outside).
    """

    zones: tuple
    started_at: float
    pause_limit: float = 300.0
    index: int = field(init=False, default=0)                 # the zone under way
    zone_started_at: float = field(init=False)                # shifted by pauses
    paused_seconds: float = field(init=False, default=0.0)
    ended: str | None = field(init=False, default=None)       # completed | ended_early
    results: list[ZoneResult] = field(init=False)
    _paused_at: float | None = field(init=False, default=None, repr=False)
    _next_tick: int = field(init=False, default=1, repr=False)
    _switched: bool = field(init=False, default=False, repr=False)
    _started_zone: int = field(init=False, default=-1, repr=False)

    def __post_init__(self) -> None:
        if not self.zones:
            raise ValueError("a session needs at least one enabled zone")
        self.zone_started_at = self.started_at
        self.results = [ZoneResult(z.id, float(z.seconds)) for z in self.zones]

    # -- the plan ------------------------------------------------------------------

    @property
    def zone(self):
        return self.zones[self.index]

    @property
    def zone_ends_at(self) -> float:
        return self.zone_started_at + self.zone.seconds

    @property
    def switch_at(self) -> float | None:
        return self.zone_started_at + self.zone.seconds / 2 if self.zone.sides == 2 else None

    def tick_at(self, n: int) -> float | None:
        if self.zone.tempo <= 0:
            return None
        return self.zone_started_at + n * 60.0 / self.zone.tempo

    @property
    def pause_ends_at(self) -> float | None:
        """While paused: when a pause this long ends the session."""
        return None if self._paused_at is None else self._paused_at + self.pause_limit

    @property
    def planned_end(self) -> float:
        """When the session will end if nothing else is skipped or paused."""
        return self.zone_ends_at + sum(z.seconds for z in self.zones[self.index + 1:])

    def next_deadline(self) -> float | None:
        if self.ended:
            return None
        if self._paused_at is not None:
            return self.pause_ends_at
        if self._started_zone != self.index:
            return self.zone_started_at
        candidates = [self.zone_ends_at]
        if self.switch_at is not None and not self._switched:
            candidates.append(self.switch_at)
        tick = self.tick_at(self._next_tick)
        if tick is not None and tick < self.zone_ends_at:
            candidates.append(tick)
        return min(candidates)

    # -- moving along ----------------------------------------------------------------

    def due(self, now: float) -> list[Cue]:
        """Every cue whose deadline is at or before `now`, in order, each at its planned time."""
        cues: list[Cue] = []
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            cues += self._fire(deadline)
        return cues

    def _fire(self, deadline: float) -> list[Cue]:
        if self._paused_at is not None:   # paused longer than the limit
            return self._end(self.pause_ends_at, "ended_early")
        if self._started_zone != self.index:
            self._started_zone = self.index
            return [Cue("zone_start", deadline, self.index)]
        if deadline == self.zone_ends_at:
            return self._finish_zone(deadline, "done")
        if self.switch_at == deadline and not self._switched:
            self._switched = True
            return [Cue("switch_side", deadline, self.index)]
        self._next_tick += 1
        return [Cue("tick", deadline, self.index)]

    def _finish_zone(self, at: float, outcome: str) -> list[Cue]:
        result = self.results[self.index]
        result.done_seconds = min(float(self.zone.seconds), exact(at - self.zone_started_at))
        result.outcome = outcome
        cues = [Cue("zone_end", at, self.index, outcome)]
        if self.index + 1 < len(self.zones):
            self.index += 1
            self.zone_started_at = at
            self._next_tick, self._switched = 1, False
        else:
            self.ended = "completed"
            cues.append(Cue("session_end", at, self.index, "completed"))
        return cues

    def skip(self, now: float) -> list[Cue]:
        """Double press while running: this zone ends as skipped and the next starts now."""
        if self.ended or self._paused_at is not None:
            return []
        cues = self.due(now)
        if self.ended:
            return cues
        return cues + self._finish_zone(now, "skipped")

    def pause(self, now: float) -> list[Cue]:
        cues = self.due(now)
        if not self.ended and self._paused_at is None:
            self._paused_at = now
        return cues

    def resume(self, now: float) -> list[Cue]:
        cues = self.due(now)   # may end the session if the pause ran past the limit
        if self.ended or self._paused_at is None:
            return cues
        pause = now - self._paused_at
        self.zone_started_at += pause
        self.paused_seconds += pause
        self._paused_at = None
        return cues

    def end_early(self, now: float, reason: str = "ended_early") -> list[Cue]:
        """`reason`: ended_early (the person), or why the device ended it (low_battery)."""
        cues = self.due(now)
        return cues if self.ended else cues + self._end(now, reason)

    def _end(self, at: float, reason: str) -> list[Cue]:
        stopped_at = self._paused_at if self._paused_at is not None else at
        result = self.results[self.index]
        done = exact(stopped_at - self.zone_started_at)
        result.done_seconds = max(0.0, min(float(self.zone.seconds), done))
        # Ended within a millisecond of the zone's end: it ran its course, as the log will say.
        reached_end = result.done_seconds >= self.zone.seconds - ZONE_END_TOLERANCE_SECONDS
        result.outcome = "done" if reached_end else "ended"
        self.ended = reason
        return [Cue("zone_end", at, self.index, result.outcome), Cue("session_end", at, self.index, reason)]

    # -- what the screens need -------------------------------------------------------

    def _frozen(self, now: float) -> float:
        return self._paused_at if self._paused_at is not None else now

    def zone_remaining(self, now: float) -> float:
        return max(0.0, self.zone_ends_at - self._frozen(now))

    def session_remaining(self, now: float) -> float:
        return max(0.0, self.planned_end - self._frozen(now))

    def side(self, now: float) -> str | None:
        if self.zone.sides != 2:
            return None
        return "left" if self._frozen(now) < self.switch_at else "right"

    def zone_done_seconds(self, index: int, now: float) -> float:
        """Seconds spent in zone `index` so far, pauses excluded (the zone under way counts too).

        To the millisecond: a zone's time is a difference of clock readings (its deadline
        minus its start, shifted by pauses), and a 30 s zone must read 30.0, not
        29.999999999999996, on the screen, in the log and after a sync.
        """
        result = self.results[index]
        under_way = (index == self.index and result.outcome == "not_reached"
                     and self._started_zone == index and not self.ended)
        if not under_way:
            return result.done_seconds
        return min(result.planned_seconds, max(0.0, exact(self._frozen(now) - self.zone_started_at)))

    def active_seconds(self, now: float) -> float:
        """Time spent massaging: finished zones plus the current one, pauses excluded."""
        return exact(sum(self.zone_done_seconds(index, now) for index in range(len(self.results))))


def countdown_changes_at(end: float, now: float) -> float:
    """When a countdown to `end`, shown in whole seconds rounded up, next changes."""
    return end - (math.ceil(end - now) - 1)
