"""The application: one loop owns the state; the button, the clock and the display feed it.

States: idle → running ⇄ paused → summary → idle. The loop waits on the event
queue until the earliest deadline of anything that is waiting (a gesture, a
pacing cue, a haptic step, a screen timeout, a display retry), so it needs no
polling and follows the injected clock exactly.

Size (~390 lines): the state machine of one loop; issue 11 plans a presenter and an Enum of states
to shrink it.
"""

from __future__ import annotations

import logging
import math
import queue
from dataclasses import dataclass
from typing import Callable, Sequence

from device.core.events import ButtonEdge, DisplayStatus, Notice, Stop, SyncProgress
from device.core.gestures import GestureRecognizer
from device.core.haptics import HapticPlayer, level_pattern
from device.core.pacing import Cue, Pacer, countdown_changes_at
from device.log.recording import NullRecorder, streak_phrase
from device.screen.display import FrameSink
from device.screen.screens import notice_pages
from device.screen.views import IdleView, OffView, PausedView, PowerOffView, SummaryView, SyncView, ZoneView

log = logging.getLogger("facepace")

NOTICE_SECONDS = 6.0       # how long a notice stays on the notice line
NOTICE_LINE_SECONDS = 4.0  # longer for each further line of a page
POWER_OFF_WARNING = 5.0    # seconds of warning on screen before the long hold powers off
# Where a double press means something; elsewhere a press acts on release, with no wait.
DOUBLE_PRESS_STATES = ("idle", "running", "paused")


@dataclass(frozen=True)
class Timeouts:
    dim_after: float = 60.0
    off_after: float = 300.0
    summary_return: float = 30.0
    pause_limit: float = 300.0


def _notice_seconds(page: str) -> float:
    return NOTICE_SECONDS + NOTICE_LINE_SECONDS * page.count("\n")


class App:
    def __init__(self, *, routines: Sequence, clock, haptics: HapticPlayer, display: FrameSink,
                 render: Callable, make_frame: Callable, gestures: GestureRecognizer,
                 timeouts: Timeouts = Timeouts(), intensity: int = 3, routine_index: int = 0,
                 recorder=None, trace: Callable[..., None] | None = None,
                 notices: Sequence[str] = (), services: Sequence = (),
                 request_power_off: Callable[[], None] | None = None,
                 on_choice: Callable[[int, str], None] | None = None,
                 button_is_pressed: Callable[[], bool] | None = None) -> None:
        if not routines:
            raise ValueError("no routines to offer")
        self.routines = list(routines)
        self.clock = clock
        self.haptics = haptics
        self.display = display
        self._render = render
        self._make_frame = make_frame
        self.gestures = gestures
        self.timeouts = timeouts
        self.intensity = intensity
        self.routine_index = routine_index % len(self.routines)
        self.recorder = recorder or NullRecorder()
        self._trace = trace or (lambda event, **fields: None)
        self.services = list(services)       # each has next_deadline() and poll(now)
        self._request_power_off = request_power_off
        self._on_choice = on_choice          # the person changed intensity or routine: keep it
        self._button_is_pressed = button_is_pressed   # the pin's level, to double-check a long hold
        self.powering_off = False
        self.sync_progress: SyncView | None = None
        self.state = "idle"
        self.pacer: Pacer | None = None
        self.summary: SummaryView | None = None
        self.summary_shown = False
        self.stopped = False
        now = clock.now()
        self._idle_since = now
        self._summary_until: float | None = None
        # Problems found at start (user routine files skipped as broken): each shown in full
        # once, and counted on the idle screen for as long as the device runs.
        self._routines_skipped = len(notices)
        self._notices: list[str] = [page for message in notices for page in notice_pages(message)]
        self._notice_until: float | None = None
        self._last_frame_key = None
        self._sync_shown_until: float | None = None
        self._screen_lost_untold = False     # the display went down; the error pattern waits for a cue

    # -- the loop --------------------------------------------------------------------

    def run(self, events: queue.SimpleQueue, *, until: Callable[[], bool] | None = None) -> None:
        """Serve events until stopped (or `until()` is true). If anything goes wrong, the motor
        is turned off before the error goes on up."""
        try:
            while not self.stopped:
                # Time is read first, then every event already waiting is handled before the
                # step, so a late loop never judges a press by "now": a release that came in
                # before that reading counts first.
                now = self.clock.now()
                try:
                    self.handle(events.get_nowait())
                    continue
                except queue.Empty:
                    pass
                self.step(now)
                if until is not None and until():
                    break
                event = self.clock.wait(events, self.next_deadline())
                if event is not None:
                    self.handle(event)
        except BaseException:
            self.haptics.stop()
            raise

    def handle(self, event) -> None:
        if isinstance(event, ButtonEdge):
            self.on_edge(event.pressed, event.at)
        elif isinstance(event, DisplayStatus):
            self.on_display_status(event.ok, event.message)
        elif isinstance(event, SyncProgress):
            self.show_sync(event.sent, event.total, event.done, event.to_drive)
        elif isinstance(event, Notice):
            self.notify(event.message)
        elif isinstance(event, Stop):
            self.shutdown(event.reason)

    def step(self, now: float) -> None:
        for at, gesture in self.gestures.due(now):
            self.on_gesture(gesture, at)
        if self.pacer is not None:
            self._handle_cues(self.pacer.due(now))
        self.haptics.due(now)
        if self._screen_lost_untold:
            self._tell_screen_lost(now)
        self._expire_timeouts(now)
        retry_at = self.display.next_deadline()
        if retry_at is not None and retry_at <= now:
            self.display.retry()
        for service in self.services:
            service.poll(now)
        self._refresh(now)

    def next_deadline(self) -> float | None:
        deadlines = [self.gestures.next_deadline(), self.haptics.next_deadline(),
                     self.display.next_deadline(), self._summary_until, self._notice_until,
                     self._sync_shown_until,
                     *(service.next_deadline() for service in self.services)]
        now = self.clock.now()
        deadlines.append(self._next_countdown_change(now))
        if self.pacer is not None:
            deadlines.append(self.pacer.next_deadline())
        # Only while the idle screen can dim: a sync's result keeps it bright, and a dim
        # deadline already passed would wake the loop at once, over and over.
        if self.state == "idle" and self.sync_progress is None and not self.powering_off:
            if self.brightness == "normal":
                deadlines.append(self._idle_since + self.timeouts.dim_after)
            elif self.brightness == "dim":
                deadlines.append(self._idle_since + self.timeouts.off_after)
        return min((d for d in deadlines if d is not None), default=None)

    # -- the button ------------------------------------------------------------------

    def on_edge(self, pressed: bool, at: float) -> None:
        # First whatever came due before this edge: a hold that really happened, the zone
        # boundary the press came after. The edge's own time decides, not when we got to it.
        for when, gesture in self.gestures.due(at):
            self.on_gesture(gesture, when)
        if self.pacer is not None:
            self._handle_cues(self.pacer.due(at))
        if pressed:
            # Felt at once, before the gesture is known.
            self.haptics.play("click", at, person_level=self.intensity)
        waking = pressed and self.state == "idle" and self.brightness == "off"
        self._idle_since = at
        self.gestures.double_enabled = self.state in DOUBLE_PRESS_STATES
        gesture = self.gestures.edge(pressed, at, ignore=waking)
        if gesture:
            self.on_gesture(gesture, at)
        self._refresh(at)

    def on_gesture(self, gesture: str, now: float) -> None:
        """`now` is when the gesture happened, which a late loop may be past already."""
        self._trace("button", gesture=gesture, at=now)
        log.info("button %s in %s", gesture, self.state)
        action = {
            ("idle", "press"): self.start_session,
            ("idle", "double"): self.next_routine,
            ("idle", "hold"): self.next_intensity,
            ("idle", "long_hold"): self.power_off,
            ("running", "press"): self.pause,
            ("running", "double"): self.skip_zone,
            ("running", "hold"): self.end_session,
            ("paused", "press"): self.resume,
            ("paused", "double"): self.resume_at_next_zone,
            ("paused", "hold"): self.end_session,
            ("summary", "press"): self.dismiss_summary,
        }.get((self.state, gesture))
        if action is not None:
            action(now)

    def on_display_status(self, ok: bool, message: str) -> None:
        """A dead screen must not go unnoticed: the person feels the error pattern once per outage,
        never over a cue (it waits for the cue to end; if the screen is back by then, it is dropped)."""
        self._trace("display", ok=ok, message=message)
        self._screen_lost_untold = not ok
        if self._screen_lost_untold:
            self._tell_screen_lost(self.clock.now())

    def _tell_screen_lost(self, now: float) -> None:
        if self.haptics.play("error", now, person_level=self.intensity) or not self.haptics.enabled:
            self._screen_lost_untold = False

    # -- actions -----------------------------------------------------------------------

    @property
    def routine(self):
        return self.routines[self.routine_index]

    def next_routine(self, now: float) -> None:
        self.routine_index = (self.routine_index + 1) % len(self.routines)
        self._keep_choices()

    def next_intensity(self, now: float) -> None:
        self.intensity = self.intensity % 5 + 1
        self.haptics.play(level_pattern(self.intensity), now, person_level=self.intensity)
        self._keep_choices()

    def _keep_choices(self) -> None:
        if self._on_choice is not None:
            self._on_choice(self.intensity, self.routine.name)

    def power_off(self, now: float) -> None:
        """Ten seconds' hold in idle: a clean power-off. The 1.5 s hold on the way there
        changed the intensity, which the person did not mean: put it back."""
        if self._button_is_pressed is not None and not self._button_is_pressed():
            log.warning("long hold ignored: the button is not down (a release edge was lost)")
            self.gestures.forget()
            return
        self.intensity = (self.intensity - 2) % 5 + 1
        self._keep_choices()
        self.powering_off = True
        self._trace("power_off")
        log.warning("power off requested by a 10 s hold")
        if self._request_power_off is not None:
            self._request_power_off()   # the system stops us with SIGTERM shortly
        else:
            self.shutdown("power off")

    def show_sync(self, sent: int, total: int, done: bool, to_drive: bool = False) -> None:
        """Progress of a USB sync or export, shown only in idle (never over a session)."""
        self.sync_progress = SyncView(sent, total, done, to_drive)
        # The host's clock may have re-dated sessions (SET_CLOCK comes first): read the log again.
        self.recorder.refresh_overview()
        if done:
            self._sync_shown_until = self.clock.now() + NOTICE_SECONDS

    def start_session(self, now: float) -> None:
        routine = self.routine
        self.pacer = Pacer(tuple(routine.active_zones), now, pause_limit=self.timeouts.pause_limit)
        self.state = "running"
        self.summary = None
        self.summary_shown = False
        self.recorder.begin(routine, self.intensity, now)
        self._trace("session_start", routine=routine.name, at=now)
        log.info("session start: %s at intensity %d", routine.name, self.intensity)
        self._handle_cues(self.pacer.due(now))

    def pause(self, now: float) -> None:
        self._handle_cues(self.pacer.pause(now))
        if self.state == "running":
            self.state = "paused"
            self.haptics.stop()   # the motor is off whenever the session is paused
            self._trace("pause", at=now)

    def resume(self, now: float) -> None:
        self._handle_cues(self.pacer.resume(now))
        if self.state == "paused":
            self.state = "running"
            self._trace("resume", at=now)

    def resume_at_next_zone(self, now: float) -> None:
        """Double press while paused: as while running, it means "next zone"."""
        self.resume(now)
        self.skip_zone(now)

    def skip_zone(self, now: float) -> None:
        self._handle_cues(self.pacer.skip(now))

    def end_session(self, now: float) -> None:
        self._handle_cues(self.pacer.end_early(now))

    def dismiss_summary(self, now: float) -> None:
        """A press on the summary acts at its release; if it was the first half of a double press
        (a skip aimed at the last zone, a moment late), the second half must not start a session."""
        self.back_to_idle(now)
        self.gestures.quiet_until(now + self.gestures.double_window)

    def back_to_idle(self, now: float) -> None:
        self.state = "idle"
        self.pacer = None
        self._summary_until = None
        self._idle_since = now

    def shutdown(self, reason: str = "stop") -> None:
        """Motor off first, close the session as ended early, say "Off", then the panel off."""
        self.haptics.stop()
        now = self.clock.now()
        if self.pacer is not None and not self.pacer.ended:
            self._handle_cues(self.pacer.end_early(now))
            self.haptics.stop()
        # Closing the display afterwards clears it and turns the panel off.
        self.display.push(self._make_frame(self._render(OffView()), "normal"))
        self.stopped = True
        log.info("stopped: %s", reason)

    # -- pacing cues -------------------------------------------------------------------

    def _handle_cues(self, cues: list[Cue]) -> None:
        for cue in cues:
            zone = self.pacer.zones[cue.zone_index]
            if cue.kind == "zone_start":
                self._trace("zone_start", index=cue.zone_index, id=zone.id, at=cue.at)
                self.haptics.play("zone_start", cue.at, person_level=self.intensity)
            elif cue.kind == "switch_side":
                self._trace("switch_side", index=cue.zone_index, id=zone.id, at=cue.at)
                self.haptics.play("switch_side", cue.at, person_level=self.intensity)
            elif cue.kind == "tick":
                self.haptics.play("tick", cue.at, person_level=self.intensity,
                                  zone_intensity=zone.intensity)
            elif cue.kind == "zone_end":
                self._trace("zone_end", index=cue.zone_index, id=zone.id, reason=cue.reason, at=cue.at)
                self.recorder.checkpoint(self.pacer, cue.at)
            elif cue.kind == "session_end":
                self._end(cue)

    def _end(self, cue: Cue) -> None:
        pacer = self.pacer
        completed = cue.reason == "completed"
        if completed:
            self.haptics.play("session_done", cue.at, person_level=self.intensity)
        else:
            self.haptics.stop()
        self.recorder.finish(pacer, cue.at, cue.reason)
        # Drawn once, complete: the streak is worked out now, not when the log's overview
        # comes back from the recorder's worker a moment later (the line would pop in).
        self.summary = SummaryView(
            routine_title=self.routine.title,
            active_seconds=pacer.active_seconds(cue.at),
            zones_done=sum(r.outcome == "done" for r in pacer.results),
            zones_skipped=sum(r.outcome == "skipped" for r in pacer.results),
            completed=completed,
            streak=streak_phrase(self.recorder.streak_with_this_session() or 0),
        )
        self.state = "summary"
        self.gestures.forget_pending_press()   # a press meant for the zone must not skip the summary
        self._summary_until = cue.at + self.timeouts.summary_return
        self._trace("session_end", reason=cue.reason, at=cue.at)
        log.info("session end: %s after %.0f s", cue.reason, self.summary.active_seconds)

    # -- timeouts and notices ------------------------------------------------------------

    def notify(self, message: str) -> None:
        """Show `message` on the notice bar for a few seconds (queued behind others); a long one
        is shown page by page."""
        self._notices.extend(notice_pages(message))
        log.warning("%s", message)

    def _expire_timeouts(self, now: float) -> None:
        if self._sync_shown_until is not None and now >= self._sync_shown_until:
            self.sync_progress = self._sync_shown_until = None
        for message in self.recorder.take_notices():
            self.notify(message)
        if self._summary_until is not None and now >= self._summary_until and self.state == "summary":
            self.gestures.forget_pending_press()
            self.back_to_idle(now)
        if self._notices and self._notice_until is None:
            self._notice_until = now + _notice_seconds(self._notices[0])
        elif self._notice_until is not None and now >= self._notice_until:
            self._notices.pop(0)
            self._notice_until = now + _notice_seconds(self._notices[0]) if self._notices else None

    @property
    def brightness(self) -> str:
        if self.state != "idle" or self.sync_progress is not None or self.powering_off:
            return "normal"
        # Compared as deadlines (the same sums next_deadline() wakes at), not as a difference:
        # float rounding could otherwise leave the loop waking forever just short of dimming.
        now = self.clock.now()
        if now >= self._idle_since + self.timeouts.off_after:
            return "off"
        return "dim" if now >= self._idle_since + self.timeouts.dim_after else "normal"

    # -- the screen ----------------------------------------------------------------------

    def view(self, now: float):
        if self.state == "running":
            pacer = self.pacer
            zone = pacer.zone
            return ZoneView(zone_title=zone.title, cue=zone.cue,
                            zone_remaining=math.ceil(pacer.zone_remaining(now)),
                            zone_seconds=zone.seconds, zone_number=pacer.index + 1,
                            zone_count=len(pacer.zones), side=pacer.side(now))
        if self.state == "paused":
            pacer = self.pacer
            return PausedView(zone_title=pacer.zone.title,
                              session_remaining=math.ceil(pacer.session_remaining(now)),
                              pause_remaining=math.ceil(pacer.paused_at + pacer.pause_limit - now))
        if self.state == "idle":
            if self.powering_off:
                return PowerOffView(0)
            held = self.gestures.held_for(now)
            limit = self.gestures.long_hold_seconds
            if held is not None and limit is not None and held >= limit - POWER_OFF_WARNING:
                return PowerOffView(max(0.0, math.ceil(limit - held)))
            if self.sync_progress is not None:
                return self.sync_progress
        if self.state == "summary":
            return self.summary
        overview = self.recorder.overview_now()
        routine = self.routine
        return IdleView(routine_title=routine.title, routine_seconds=routine.total_seconds,
                        routine_number=self.routine_index + 1, routine_count=len(self.routines),
                        intensity=self.intensity,
                        last_session=overview.last_session_text if overview else None,
                        streak_days=overview.streak_days if overview else 0,
                        minutes_this_week=overview.minutes_this_week if overview else 0.0,
                        routines_skipped=self._routines_skipped)

    def _countdown_end(self, now: float) -> float | None:
        """The instant the countdown on screen counts down to, if one is shown."""
        if self.state == "running":
            return self.pacer.zone_ends_at
        if self.state == "paused":
            return self.pacer.paused_at + self.pacer.pause_limit
        held = self.gestures.held_for(now) if self.state == "idle" else None
        if held is not None and self.gestures.long_hold_seconds is not None:
            return now - held + self.gestures.long_hold_seconds   # the power-off hold
        return None

    def _next_countdown_change(self, now: float) -> float | None:
        end = self._countdown_end(now)
        if end is None:
            return None
        change = countdown_changes_at(end, now)
        if self.state == "idle":   # the power-off countdown only shows in its last seconds
            change = max(change, end - POWER_OFF_WARNING)
        return change

    def _refresh(self, now: float) -> None:
        view = self.view(now)
        error = self._notices[0] if self._notices else None
        key = (view, error, self.brightness)
        if key == self._last_frame_key:
            return
        self._last_frame_key = key
        self.display.push(self._make_frame(self._render(view, error=error), self.brightness))
        if self.state == "summary":
            self.summary_shown = True
