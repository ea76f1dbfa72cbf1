"""What the app's loop is told, by other threads and by the signal handler, through its queue.

The loop is the only owner of the state; everyone else only puts one of these on the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class ButtonEdge:
    pressed: bool
    at: float


@dataclass(frozen=True)
class DisplayStatus:
    """The display stopped answering (ok=False) or came back; sent from the display's thread."""

    ok: bool
    message: str = ""


@dataclass(frozen=True)
class SyncProgress:
    """From the USB sync server's thread: sessions sent so far."""

    sent: int
    total: int
    done: bool = False
    to_drive: bool = False   # the USB-drive export, rather than a computer's sync


@dataclass(frozen=True)
class Notice:
    """A message for the notice line, from another thread (e.g. the USB-drive export)."""

    message: str


@dataclass(frozen=True)
class BatteryStatus:
    """What the fuel gauge said (device.core.battery), every 30 s."""

    level: str                      # "ok", "warning", "critical", or "unknown" (the gauge is not answering)
    percent: float | None = None
    charging: bool | None = None    # None: the gauge cannot tell
    minutes_left: float | None = None  # of session, down to the critical level; None until measured


@dataclass(frozen=True)
class LogRead:
    """The session log's worker read it (or has a notice): the loop wakes to show it."""


@dataclass(frozen=True)
class Stop:
    """Ask the loop to shut down cleanly (SIGTERM, end of a simulation)."""

    reason: str = "stop"


@dataclass(frozen=True)
class ChangeAsked:
    """A computer staged a change (sync protocol 3): the screen asks the person, in idle.

    Plain data and one function, so the same question can come from a sync thread or over a
    channel from a sync process: `answer(True)` for a press, `answer(False)` for a hold,
    `answer(None)` when nobody answered in time; it returns False if the answer came too late
    (the computer went away first)."""

    prompt: str
    answer: Callable[[bool | None], bool]


@dataclass(frozen=True)
class QuestionWithdrawn:
    """Whoever asked `question` is gone (the sync process restarted): it leaves the screen."""

    question: ChangeAsked


@dataclass(frozen=True)
class SettingsChanged:
    """The person accepted a change and it is stored: what the device runs on from now on,
    applied in idle (never during a session). `intensity`: the new default, when it changed."""

    routines: tuple
    timeouts: object                 # device.core.state.Timeouts
    levels: object                   # device.core.haptics.MotorLevels
    haptics: bool
    time_zone: str | None = None     # an IANA name; None: the system's
    intensity: int | None = None
    turned: bool = False             # the picture is turned 180° from the way the panel was opened
