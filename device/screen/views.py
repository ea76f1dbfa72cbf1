"""What each screen shows: plain data, built by the app, drawn by `device.screen.screens.render`.

Times are seconds (floats); the renderer decides how to round them (countdowns round up,
so a zone never shows 0:00 while it is still running).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatteryView:
    """The idle screen's battery line (a fuel gauge is fitted)."""

    percent: float | None           # None: the gauge is not answering
    charging: bool = False
    sessions_left: int | None = None  # of the selected routine; None until a few sessions were measured


@dataclass(frozen=True)
class IdleView:
    routine_title: str
    routine_seconds: float          # length of the enabled zones
    routine_number: int             # 1-based position in the routine list
    routine_count: int
    intensity: int                  # the person's level, 1..5
    last_session: str | None = None  # already phrased, e.g. "Yesterday, 8 min"; None = never
    streak_days: int = 0            # calendar days in a row with a session (0 = none running)
    minutes_this_week: float = 0.0  # since Monday
    routines_skipped: int = 0       # user routine files skipped at start as broken
    # The weekly goal (device.log.goals); week_done None shows the daily streak above instead.
    week_done: int | None = None    # days this week with a session that counts
    week_goal: int = 5              # days this week asks for; 0 = a week of rest
    streak_weeks: int = 0           # weeks in a row that met the goal
    status: str | None = None       # in place of the last session: "Rest until Mon 14 Dec",
                                    # "Gentle start 3 of 5" or the anchor phrase (goals.idle_status)
    battery: BatteryView | None = None  # None: no fuel gauge


@dataclass(frozen=True)
class ZoneView:
    zone_title: str
    cue: str                        # one or two short lines (may contain "\n")
    zone_remaining: float
    zone_seconds: float
    zone_number: int                # 1-based among enabled zones
    zone_count: int
    side: str | None = None         # "left", "right" or None for one-sided zones
    caution: str | None = None      # shown in place of the cue (Zone.caution_at: its first seconds)


@dataclass(frozen=True)
class PausedView:
    zone_title: str
    session_remaining: float
    pause_remaining: float          # how long until a pause this long ends the session


@dataclass(frozen=True)
class SummaryView:
    routine_title: str
    active_seconds: float
    zones_done: int
    zones_skipped: int
    completed: bool                 # False: ended early
    streak: str | None = None       # already phrased, e.g. "3 days in a row"; None = no line


@dataclass(frozen=True)
class SyncView:
    """A computer is pulling the log over USB (never shown over a running session)."""

    sent: int
    total: int
    done: bool = False              # True: "Synced <total>"
    to_drive: bool = False          # an export to a USB drive: "Exported <total>, safe to remove"


@dataclass(frozen=True)
class QuestionView:
    """A change from the computer waits for the person: a press accepts it, a hold refuses it."""

    prompt: str                     # e.g. "Add routine 'Evening calm' 6:00"
    seconds_left: float             # until the question is dropped


@dataclass(frozen=True)
class PowerOffView:
    """The button is still held in idle: power off when `seconds_left` reaches 0."""

    seconds_left: float


@dataclass(frozen=True)
class SafetyView:
    """One of the safety pages (device.screen.safety), one press each."""

    title: str
    text: str
    page: int                       # 1-based
    pages: int


@dataclass(frozen=True)
class RestView:
    """A press in idle during a rest: the session starts only if the person confirms."""

    until: str                      # the rest's last day, phrased: "Mon 14 Dec"


@dataclass(frozen=True)
class OffView:
    """Shown briefly on shutdown before the panel is turned off."""


@dataclass(frozen=True)
class StartingView:
    """The first frame at start, while the log is read and the rest is set up (issue 12): the idle
    screen replaces it, figures and all, so none is ever shown before the log is read."""


View = (IdleView | ZoneView | PausedView | SummaryView | SyncView | QuestionView | PowerOffView | OffView
        | SafetyView | RestView | StartingView)
