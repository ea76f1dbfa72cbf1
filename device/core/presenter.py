"""What the panel shows: the app's state turned into a view, pushed to the display when it changes.

The app decides; the presenter only looks at its state (never changes it) and keeps what is the
screen's own: the notice bar's queue, a sync's progress while it shows, when the idle screen dims
and goes off, when a countdown on screen next changes, and the last frame sent (the same picture
is never sent twice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from PIL import Image

from device.core.pacing import countdown_changes_at
from device.core.state import DIMMING_STATES, State, Timeouts
from device.log import goals
from device.screen.safety import safety_view
from device.screen.screens import notice_pages
from device.screen.views import (BatteryView, IdleView, OffView, PausedView, PowerOffView, QuestionView, RestView,
                                 StartingView, SummaryView, SyncView, View, ZoneView)
from device.settings.routines import CAUTION_SECONDS

if TYPE_CHECKING:
    from device.core.gestures import GestureRecognizer
    from device.core.pacing import Pacer
    from device.screen.display import FrameSink


class Shown(Protocol):
    """What the presenter reads of the app (device/core/app.py's App); it never changes it."""

    state: State
    pacer: Pacer | None
    summary: SummaryView | None
    gestures: GestureRecognizer
    recorder: object
    routines: Sequence
    routine: object
    routine_index: int
    intensity: int
    goal: object             # the [goal] settings: gentle_sessions, anchor
    safety_page: int

    def gentle_number(self) -> int | None: ...

NOTICE_SECONDS = 6.0       # how long a notice (or a sync's result) stays on screen
# A sync tells its progress at least every second or so; one silent this long has stopped (a cut
# cable, a failure told as a notice, the sync process gone): its "Syncing n/N" leaves the screen,
# which may dim again.
SYNC_SILENCE_SECONDS = 15.0
NOTICE_LINE_SECONDS = 4.0  # longer for each further line of a page
POWER_OFF_WARNING = 5.0    # seconds of warning on screen before the long hold powers off


@dataclass(frozen=True)
class Screen:
    """The panel as the app sees it: where frames go, and how a view becomes one."""

    display: FrameSink
    render: Callable                # render(view, error=None) -> image (or a Drawing the display renders)
    make_frame: Callable            # make_frame(image, brightness) -> what display.push takes


def summary_view(routine, pacer, at: float, *, completed: bool, streak: str | None) -> SummaryView:
    """The summary of the session `pacer` paced, as it ended at `at`; `streak`: the weekly
    goal's line, counting it (goals.summary_phrase)."""
    return SummaryView(routine_title=routine.title, active_seconds=pacer.active_seconds(at),
                       zones_done=sum(r.outcome == "done" for r in pacer.results),
                       zones_skipped=sum(r.outcome == "skipped" for r in pacer.results),
                       completed=completed, streak=streak)


def battery_view(status, routine_seconds: float) -> BatteryView | None:
    """The gauge's last word for the idle screen; sessions left of a routine this long."""
    if status is None:
        return None
    left = None
    if status.minutes_left is not None and routine_seconds > 0:
        left = int(status.minutes_left * 60 // routine_seconds)
    return BatteryView(status.percent, bool(status.charging), left)


def notice_seconds(page: str) -> float:
    return NOTICE_SECONDS + NOTICE_LINE_SECONDS * page.count("\n")


class Presenter:
    def __init__(self, screen: Screen, *, clock, timeouts: Timeouts, notices=()) -> None:
        self.screen = screen
        self.clock = clock
        self.timeouts = timeouts
        self.sync: SyncView | None = None   # a USB sync's progress, shown in idle
        self._sync_until: float | None = None
        # Problems found at start (user routine files skipped as broken): each shown in full
        # once, and counted on the idle screen for as long as the device runs.
        self.routines_skipped = len(notices)
        self._notices: list[str] = [page for message in notices for page in notice_pages(message)]
        self._notice_until: float | None = None
        self._idle_since = clock.now()
        self._sent_key = None
        self.turned = False   # the person's rotation differs from the panel's (set at its start)

    # -- what the app tells it -----------------------------------------------------------

    def touched(self, at: float) -> None:
        """The person did something (or the device went back to idle): the idle screen's
        dim and off timers start again."""
        self._idle_since = at

    def notify(self, message: str) -> None:
        """Show `message` on the notice bar for a few seconds, queued behind others; a long
        one page by page."""
        self._notices.extend(notice_pages(message))

    def show_sync(self, progress: SyncView) -> None:
        self.sync = progress
        self._sync_until = self.clock.now() + (NOTICE_SECONDS if progress.done else SYNC_SILENCE_SECONDS)

    # -- the loop ------------------------------------------------------------------------

    def poll(self, now: float) -> None:
        """Move the notice bar on, take a sync's result away, retry a display that failed."""
        if self._sync_until is not None and now >= self._sync_until:
            self.sync = self._sync_until = None
        if self._notices and self._notice_until is None:
            self._notice_until = now + notice_seconds(self._notices[0])
        elif self._notice_until is not None and now >= self._notice_until:
            self._notices.pop(0)
            self._notice_until = now + notice_seconds(self._notices[0]) if self._notices else None
        display = self.screen.display
        retry_at = display.next_deadline()
        if retry_at is not None and retry_at <= now:
            display.retry()

    def next_deadline(self, app: Shown, now: float) -> float | None:
        deadlines = [self.screen.display.next_deadline(), self._notice_until, self._sync_until,
                     self._next_countdown_change(app, now)]
        # Only while the idle screen can dim: a sync's result keeps it bright, and a dim
        # deadline already passed would wake the loop at once, over and over.
        if app.state in DIMMING_STATES and self.sync is None:
            brightness = self.brightness(app)
            if brightness == "normal":
                deadlines.append(self._idle_since + self.timeouts.dim_after)
            elif brightness == "dim":
                deadlines.append(self._idle_since + self.timeouts.off_after)
        return min((d for d in deadlines if d is not None), default=None)

    def show(self, app: Shown, now: float) -> View | None:
        """Push the frame for the state at `now` unless it is the one already sent; returns the
        view if it is a new one (not just a new notice over it or a new brightness)."""
        if app.state is State.OFF:
            return None   # the last frame ("Off") is sent by `show_off`
        view = self.view(app, now)
        notice = self._notices[0] if self._notices else None
        brightness = self.brightness(app)
        key = (view, notice, brightness, self.turned)
        if key == self._sent_key:
            return None
        new_view = self._sent_key is None or view != self._sent_key[0]
        self._sent_key = key
        self._push(self.screen.render(view, error=notice), brightness)
        return view if new_view else None

    def show_off(self) -> None:
        """Send "Off"; the display is closed next, which clears it and turns the panel off."""
        self._sent_key = (OffView(), None, "normal", self.turned)
        self._push(self.screen.render(OffView()), "normal")

    def _push(self, image, brightness: str) -> None:
        if self.turned:
            image = image.transpose(Image.Transpose.ROTATE_180)
        self.screen.display.push(self.screen.make_frame(image, brightness))

    # -- from state to view --------------------------------------------------------------

    def brightness(self, app: Shown) -> str:
        if app.state not in DIMMING_STATES or self.sync is not None:
            return "normal"
        # Compared as deadlines (the same sums next_deadline() wakes at), not as a difference:
        # float rounding could otherwise leave the loop waking forever just short of dimming.
        now = self.clock.now()
        if now >= self._idle_since + self.timeouts.off_after:
            return "off"
        return "dim" if now >= self._idle_since + self.timeouts.dim_after else "normal"

    def view(self, app: Shown, now: float) -> View:
        state, pacer = app.state, app.pacer
        if state is State.RUNNING:
            zone = pacer.zone
            return ZoneView(zone_title=zone.title, cue=zone.cue,
                            zone_remaining=math.ceil(pacer.zone_remaining(now)),
                            zone_seconds=zone.seconds, zone_number=pacer.index + 1,
                            zone_count=len(pacer.zones), side=pacer.side(now),
                            caution=zone.caution_at(now - pacer.zone_started_at))
        if state is State.PAUSED:
            return PausedView(zone_title=pacer.zone.title,
                              session_remaining=math.ceil(pacer.session_remaining(now)),
                              pause_remaining=math.ceil(pacer.pause_ends_at - now))
        if state is State.SUMMARY:
            return app.summary
        if state is State.ASKING:
            return QuestionView(app.question.prompt, max(0.0, app.question_until - now))
        if state is State.SAFETY:
            return safety_view(app.safety_page)
        if state is State.REST_CONFIRM:
            progress = app.recorder.goal_now()   # the rest may have ended while it asks
            if progress is not None and progress.resting_until is not None:
                return RestView(goals.day_name(progress.resting_until))
        if state is State.POWERING_OFF:
            return PowerOffView(0)
        if state is State.OFF:
            return OffView()
        gestures = app.gestures
        held, limit = gestures.held_for(now), gestures.long_hold_seconds
        if held is not None and limit is not None and held >= limit - POWER_OFF_WARNING:
            return PowerOffView(max(0.0, math.ceil(limit - held)))
        if self.sync is not None:
            return self.sync
        return self._idle_view(app)

    def _idle_view(self, app: Shown) -> IdleView | StartingView:
        if app.recorder.reading:   # the log's first read (on its worker): no figures yet, the splash stays
            return StartingView()
        overview = app.recorder.overview_now()
        progress = app.recorder.goal_now()
        routine = app.routine
        week = {}
        if progress is not None:
            week = goals.idle_week(progress)
            week["status"] = goals.idle_status(progress, gentle_number=app.gentle_number(),
                                               gentle_sessions=app.goal.gentle_sessions, anchor=app.goal.anchor)
        return IdleView(routine_title=routine.title, routine_seconds=routine.total_seconds,
                        routine_number=app.routine_index + 1, routine_count=len(app.routines),
                        intensity=app.intensity,
                        last_session=overview.last_session_text if overview else None,
                        minutes_this_week=overview.minutes_this_week if overview else 0.0,
                        routines_skipped=self.routines_skipped,
                        battery=battery_view(app.battery, routine.total_seconds), **week)

    @staticmethod
    def _power_off_hold_ends(app: Shown, now: float) -> float | None:
        """In idle, with the button down: when the hold becomes the power-off hold."""
        gestures = app.gestures
        held = gestures.held_for(now)
        if held is None or gestures.long_hold_seconds is None:
            return None
        return now - held + gestures.long_hold_seconds

    def _next_countdown_change(self, app: Shown, now: float) -> float | None:
        """When the countdown on screen (a zone's, a pause's, the power-off hold's) next changes."""
        if app.state is State.RUNNING:
            changes = countdown_changes_at(app.pacer.zone_ends_at, now)
            caution_ends = app.pacer.zone_started_at + CAUTION_SECONDS
            if app.pacer.zone.caution and now < caution_ends:   # the cue takes the caution's place
                changes = min(changes, caution_ends)
            return changes
        if app.state is State.PAUSED:
            return countdown_changes_at(app.pacer.pause_ends_at, now)
        if app.state is State.ASKING:
            return countdown_changes_at(app.question_until, now)
        if app.state is State.IDLE:
            end = self._power_off_hold_ends(app, now)
            if end is not None:   # it only shows in its last seconds
                return max(countdown_changes_at(end, now), end - POWER_OFF_WARNING)
        return None
