"""The state machine's definition: the device's states, what each gesture does in each, and the
timeouts that move it on by themselves. `device.core.app` carries it out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Where the device is. `str` values, as the trace and the logs say them."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    SUMMARY = "summary"
    ASKING = "asking"               # the screen asks to accept a change from the computer (idle only)
    SAFETY = "safety"               # the safety pages: first run, and a hold on the summary
    REST_CONFIRM = "rest_confirm"   # a press in idle during a rest: start anyway?
    POWERING_OFF = "powering_off"   # a long hold asked the system to power off; it stops us soon
    OFF = "off"                     # stopped: the loop is over


@dataclass(frozen=True)
class Timeouts:
    dim_after: float = 60.0         # idle: the screen dims
    off_after: float = 300.0        # idle: the screen goes off
    summary_return: float = 30.0    # the summary goes back to idle by itself
    pause_limit: float = 300.0      # a pause this long ends the session
    answer_within: float = 60.0     # a change from the computer nobody answers is dropped


# What each gesture does in each state (the name of an App method); anything else does nothing.
GESTURE_ACTIONS = {
    (State.IDLE, "press"): "start_session",
    (State.IDLE, "double"): "next_routine",
    (State.IDLE, "hold"): "next_intensity",
    (State.IDLE, "long_hold"): "power_off",
    (State.RUNNING, "press"): "pause",
    (State.RUNNING, "double"): "skip_zone",
    (State.RUNNING, "hold"): "end_session",
    (State.PAUSED, "press"): "resume",
    (State.PAUSED, "double"): "resume_at_next_zone",
    (State.PAUSED, "hold"): "end_session",
    (State.SUMMARY, "press"): "dismiss_summary",
    (State.ASKING, "press"): "accept_change",
    (State.ASKING, "hold"): "refuse_change",
    (State.SUMMARY, "hold"): "show_safety",
    (State.SAFETY, "press"): "next_safety_page",
    (State.SAFETY, "hold"): "rest_from_safety_page",   # only on the page about injectables
    (State.REST_CONFIRM, "press"): "start_anyway",
    (State.REST_CONFIRM, "hold"): "back_to_idle",
}

# Screens left alone for long dim, then go off (a press on a dark one only wakes it): the idle
# screen, and the safety pages a first run waits on.
DIMMING_STATES = frozenset({State.IDLE, State.SAFETY})

# Where a double press means something; elsewhere a press acts on release, with no wait.
DOUBLE_PRESS_STATES = frozenset(state for state, gesture in GESTURE_ACTIONS if gesture == "double")
