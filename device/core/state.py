"""The device's states, one at a time, and the timeouts that move it between them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Where the device is. `str` values, as the trace and the logs say them."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    SUMMARY = "summary"
    POWERING_OFF = "powering_off"   # a long hold asked the system to power off; it stops us soon
    OFF = "off"                     # stopped: the loop is over


@dataclass(frozen=True)
class Timeouts:
    dim_after: float = 60.0         # idle: the screen dims
    off_after: float = 300.0        # idle: the screen goes off
    summary_return: float = 30.0    # the summary goes back to idle by itself
    pause_limit: float = 300.0      # a pause this long ends the session
