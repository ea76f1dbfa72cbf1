"""The application: one loop owns the state; the button, the clock and the display feed it.

States (`device.core.state`): idle → running ⇄ paused → summary → idle; from idle a long hold
goes to powering-off; a change from the computer is asked in idle (asking → idle); any state
ends in off. This module decides what happens; what the panel shows of it is
`device.core.presenter`'s, and how the loop waits is `device.core.loop`'s.

Size (~430 lines): one state machine's decisions, which issues 13, 14 and 16 grew on the same day
(a change asked and applied at idle, rests and the safety pages, the battery's end). The next
split is by feature into objects the app holds (the person's changes; the battery's limits;
rest and safety), each with its own gestures in `device.core.state`'s table.
"""

from __future__ import annotations

import logging
import queue
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, Sequence

from device.core.events import (BatteryStatus, ButtonEdge, ChangeAsked, DisplayStatus, Notice, QuestionWithdrawn,
                                 SettingsChanged, Stop, SyncProgress)
from device.core.gestures import GestureRecognizer
from device.core.haptics import HapticPlayer, level_pattern
from device.core.loop import serve
from device.core.pacing import Cue, Pacer
from device.core.presenter import Presenter, Screen, summary_view
from device.core.state import DIMMING_STATES, DOUBLE_PRESS_STATES, GESTURE_ACTIONS, State, Timeouts
from device.log import goals
from device.log.recording import NullRecorder
from device.screen.safety import SAFETY_PAGES
from device.screen.views import SummaryView, SyncView
from device.settings.choices import Choices
from device.settings.config import GoalConfig

__all__ = ["App", "Hooks", "Screen", "State", "Timeouts"]

log = logging.getLogger("facepace")

READ_FIRST_SECONDS = 1.0   # a question ignores presses this long: time to read it, none meant for idle
REST_PAGE = "After injectables"   # the safety page a hold sets a rest on
REST_DAYS_FROM_DEVICE = 14        # the clinics' two weeks; the computer sets any other length


@dataclass(frozen=True)
class Hooks:
    """The app's ties to the world outside its loop; any may be left out."""

    trace: Callable[..., None] | None = None               # trace(event, **fields): a file, the log
    keep_choices: Callable[[Choices], None] | None = None  # the person changed intensity or routine
    request_power_off: Callable[[], None] | None = None    # None: a long hold just stops the loop
    button_is_pressed: Callable[[], bool] | None = None    # the pin's level, to double-check a long hold
    services: Sequence = ()                                # polled on the loop's clock: next_deadline(), poll(now)
    set_rest: Callable[[int], None] | None = None          # set_rest(days): a rest from today, kept
    safety_shown: Callable[[], None] | None = None         # the first run's safety pages were read


class App:
    def __init__(self, routines: Sequence, choices: Choices, *, clock, haptics: HapticPlayer,
                 gestures: GestureRecognizer, screen: Screen, hooks: Hooks = Hooks(), recorder=None,
                 timeouts: Timeouts = Timeouts(), notices: Sequence[str] = (), goal: GoalConfig = GoalConfig(),
                 show_safety: bool = False) -> None:
        """`choices`: the person's intensity and routine (by name; an unknown name means the
        first routine). `notices`: problems found at start, shown once each. `goal`: the gentle
        start and the anchor phrase. `show_safety`: start on the safety pages (a first run)."""
        if not routines:
            raise ValueError("no routines to offer")
        self.routines = list(routines)
        names = [routine.name for routine in self.routines]
        self.routine_index = names.index(choices.routine) if choices.routine in names else 0
        self.intensity = choices.intensity
        self.gentle_overridden = choices.overridden
        self._overridden_before_hold = choices.overridden
        self.goal = goal
        self.session_level = choices.intensity   # the session's: the chosen level, capped while gentle
        self.clock = clock
        self.haptics = haptics
        self.gestures = gestures
        self.hooks = hooks
        self.recorder = recorder or NullRecorder()
        self.timeouts = timeouts
        self.presenter = Presenter(screen, clock=clock, timeouts=timeouts, notices=notices)
        self._listeners = [hooks.trace] if hooks.trace else []
        self.state = State.IDLE
        self.pacer: Pacer | None = None        # the session under way, or the one on the summary
        self.summary: SummaryView | None = None
        self._summary_until: float | None = None
        self._screen_lost_untold = False     # the display went down; the error pattern waits for a cue
        self.question: ChangeAsked | None = None   # a change from the computer, asked in idle
        self.question_until: float | None = None   # when it is dropped, once on screen
        self._settings_waiting: SettingsChanged | None = None   # accepted during a session
        self.battery: BatteryStatus | None = None   # None: no gauge
        self.safety_page = 0                  # the page shown in State.SAFETY (0-based)
        self._first_run = show_safety
        if show_safety:
            self.state = State.SAFETY

    # -- the loop --------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self.state is State.OFF

    def run(self, events: queue.SimpleQueue, *, until: Callable[[], bool] | None = None) -> None:
        """Serve events until stopped (or `until()` is true); see `device.core.loop`."""
        serve(self, events, until=until)

    def handle(self, event) -> None:
        """One event from another thread (the button's, the display's, the sync's) or a signal."""
        if isinstance(event, ButtonEdge):
            self.on_edge(event.pressed, event.at)
        elif isinstance(event, DisplayStatus):
            self.on_display_status(event.ok, event.message)
        elif isinstance(event, SyncProgress):
            self.show_sync(event.sent, event.total, event.done, event.to_drive)
        elif isinstance(event, Notice):
            self.notify(event.message)
        elif isinstance(event, ChangeAsked):
            self.ask(event)
        elif isinstance(event, QuestionWithdrawn):
            self.withdraw_question(event.question)
        elif isinstance(event, SettingsChanged):
            self.apply_settings(event)
        elif isinstance(event, BatteryStatus):
            self.on_battery(event)
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
        if self.state in (State.SUMMARY, State.REST_CONFIRM) and now >= self._summary_until:
            self.gestures.forget_pending_press()
            self.back_to_idle(now)
        if self.state is State.ASKING and now >= self.question_until:
            self._settle_question(None, self.question_until)
        for message in self.recorder.take_notices():
            self.notify(message)
        self.presenter.poll(now)
        for service in self.hooks.services:
            service.poll(now)
        self._show(now)

    def next_deadline(self) -> float | None:
        deadlines = [self.gestures.next_deadline(), self.haptics.next_deadline(), self._summary_until,
                     self.question_until if self.state is State.ASKING else None,
                     self.presenter.next_deadline(self, self.clock.now()),
                     *(service.next_deadline() for service in self.hooks.services)]
        if self.pacer is not None:
            deadlines.append(self.pacer.next_deadline())
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
        waking = pressed and self.state in DIMMING_STATES and self.brightness == "off"
        self.presenter.touched(at)
        self.gestures.double_enabled = self.state in DOUBLE_PRESS_STATES
        gesture = self.gestures.edge(pressed, at, ignore=waking)
        if gesture:
            self.on_gesture(gesture, at)
        self._show(at)

    def on_gesture(self, gesture: str, now: float) -> None:
        """`now` is when the gesture happened, which a late loop may be past already."""
        self._trace("button", gesture=gesture, at=now)
        log.info("button %s in %s", gesture, self.state)
        action = GESTURE_ACTIONS.get((self.state, gesture))
        if action is not None:
            getattr(self, action)(now)

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
        self._overridden_before_hold = self.gentle_overridden   # a power-off hold undoes both
        if self.gentle_number() is not None:
            self.gentle_overridden = True   # a level chosen during the gentle start is kept
        self.intensity = self.intensity % 5 + 1
        self.haptics.play(level_pattern(self.intensity), now, person_level=self.intensity)
        self._keep_choices()

    def _keep_choices(self) -> None:
        if self.hooks.keep_choices is not None:
            self.hooks.keep_choices(Choices(self.intensity, self.routine.name, self.gentle_overridden))

    def gentle_number(self) -> int | None:
        """"Gentle start N of M": this routine's N, or None (over, off, or the log unread)."""
        before = self.recorder.gentle_before(self.routine.name)
        return None if before is None else goals.gentle_session_number(before, self.goal.gentle_sessions)

    def resting_until(self):
        progress = self.recorder.goal_now()
        return None if progress is None else progress.resting_until

    def power_off(self, now: float) -> None:
        """Ten seconds' hold in idle: a clean power-off. The 1.5 s hold on the way there
        changed the intensity, which the person did not mean: put it back."""
        button_is_pressed = self.hooks.button_is_pressed
        if button_is_pressed is not None and not button_is_pressed():
            log.warning("long hold ignored: the button is not down (a release edge was lost)")
            self.gestures.forget()
            return
        self.intensity = (self.intensity - 2) % 5 + 1
        self.gentle_overridden = self._overridden_before_hold
        self._keep_choices()
        self._power_off("long_hold")

    def _power_off(self, reason: str) -> None:
        """`reason` (traced): long_hold, or low_battery."""
        self.state = State.POWERING_OFF
        self._summary_until = None   # a session just ended by a flat battery has no summary to return from
        self._trace("power_off", reason=reason)
        log.warning("power off requested: %s", reason)
        if self.hooks.request_power_off is not None:
            self.hooks.request_power_off()   # the system stops us with SIGTERM shortly
        else:
            self.shutdown("power off")

    def show_sync(self, sent: int, total: int, done: bool, to_drive: bool = False) -> None:
        """Progress of a USB sync or export, shown only in idle (never over a session)."""
        self.presenter.show_sync(SyncView(sent, total, done, to_drive))
        # The host's clock may have re-dated sessions (SET_CLOCK comes first): read the log again
        # once the sync is over. Not per batch: a read of a long log costs the loop's log worker
        # far more than a batch does (0.4 s of a Pi's CPU at 10,000 sessions).
        if done:
            self.recorder.refresh_overview()

    def on_battery(self, status: BatteryStatus) -> None:
        """The gauge's news (every 30 s): a notice when the charge gets low or the gauge stops
        answering (pacing goes on); below the critical level, unless charging, the session ends
        and the device powers off cleanly before the voltage collapses."""
        before, self.battery = self.battery, status
        was = before.level if before is not None else "ok"
        if status.level == "warning" and was in ("ok", "unknown") and not status.charging:
            self.notify(f"Battery low: {status.percent:.0f}%, charge soon")
        elif status.level == "unknown" and was != "unknown":
            self.notify("Battery gauge not answering")
        if status.level == "critical" and not status.charging and self.state not in (State.POWERING_OFF, State.OFF):
            now = self.clock.now()
            if self.pacer is not None and not self.pacer.ended:
                self._handle_cues(self.pacer.end_early(now, reason="low_battery"))
            self.haptics.stop()
            self.notify("Battery empty: powering off")
            self._power_off("low_battery")

    def _battery_too_low(self) -> bool:
        """Below the critical level (on a charger, too: a weak one may not carry the motor)."""
        return self.battery is not None and self.battery.level == "critical"

    def start_session(self, now: float) -> None:
        """A press in idle: the session starts, unless the battery is too low, or the person is
        resting (then it asks)."""
        if self.resting_until() is not None:
            self.state = State.REST_CONFIRM
            self._summary_until = now + self.timeouts.summary_return   # unanswered: back to idle
            return
        self.start_anyway(now)

    def start_anyway(self, now: float) -> None:
        if self._battery_too_low():
            self.state = State.IDLE   # from the rest question too
            self.notify("Battery too low for a session: charge it first")
            return
        routine = self.routine
        before = self.recorder.gentle_before(routine.name)
        self.session_level = self.intensity if before is None else goals.gentle_level(
            self.intensity, before, self.goal.gentle_sessions, overridden=self.gentle_overridden)
        self._summary_until = None
        self.pacer = Pacer(tuple(routine.active_zones), now, pause_limit=self.timeouts.pause_limit)
        self.state = State.RUNNING
        self.summary = None
        self._trace("session_start", routine=routine.name, at=now)
        # The first zone's buzz before the log's write is handed over: on a Pi's busy core the
        # log's worker would take the CPU the cue needs (zones last a second or more, so no
        # zone's end, which the log is told of, is due yet).
        self._handle_cues(self.pacer.due(now))
        self.recorder.begin(routine, self.intensity, now)
        log.info("session start: %s at intensity %d (felt at %d)", routine.name, self.intensity,
                 self.session_level)

    def pause(self, now: float) -> None:
        self._handle_cues(self.pacer.pause(now))
        if self.state is State.RUNNING:   # not if the cues due first ended the session
            self.state = State.PAUSED
            self.haptics.stop()   # the motor is off whenever the session is paused
            self._trace("pause", at=now)

    def resume(self, now: float) -> None:
        self._handle_cues(self.pacer.resume(now))
        if self.state is State.PAUSED:   # not if the pause ran past its limit
            self.state = State.RUNNING
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

    def show_safety(self, now: float) -> None:
        """A hold on the summary: the safety pages again, one press each."""
        self.back_to_idle(now)
        self.state = State.SAFETY
        self.safety_page = 0

    def next_safety_page(self, now: float) -> None:
        self.safety_page += 1
        if self.safety_page < len(SAFETY_PAGES):
            return
        self.back_to_idle(now)
        if self._first_run:
            self._first_run = False
            if self.hooks.safety_shown is not None:
                self.hooks.safety_shown()

    def rest_from_safety_page(self, now: float) -> None:
        """A hold on the page about injectables sets the rest it advises; the next page follows."""
        if SAFETY_PAGES[self.safety_page][0] != REST_PAGE or self.hooks.set_rest is None:
            return
        self.hooks.set_rest(REST_DAYS_FROM_DEVICE)
        self._trace("rest_set", days=REST_DAYS_FROM_DEVICE, at=now)
        self.notify(f"Rest set: {REST_DAYS_FROM_DEVICE} days")
        self.next_safety_page(now)

    def back_to_idle(self, now: float) -> None:
        self.state = State.IDLE
        self.pacer = None
        self._summary_until = None
        self.presenter.touched(now)
        if self._settings_waiting is not None:
            self.apply_settings(self._settings_waiting)
        if self.question is not None:
            self._put_question(now)

    # -- changes from the computer (device.sync.ownerdesk asks, the person answers) ---------

    def ask(self, question: ChangeAsked) -> None:
        """Show the question now if idle, else once the session and its summary are over."""
        if self.question is not None and self.question is not question:
            self.question.answer(None)   # replaced: the computer that asked it went away
        self.question = question
        if self.state in (State.IDLE, State.ASKING):
            self._put_question(self.clock.now())

    def withdraw_question(self, question: ChangeAsked) -> None:
        """The asker is gone: off the screen (or out of the wait behind a session), unanswered."""
        if self.question is not question:
            return
        if self.state is State.ASKING:
            self._settle_question(None, self.clock.now())
        else:
            self.question = None
            question.answer(None)

    def _put_question(self, now: float) -> None:
        self.state = State.ASKING
        self.question_until = now + self.timeouts.answer_within
        # A press already under way was meant for the idle screen: it must not say yes.
        self.gestures.forget_pending_press()
        self.gestures.quiet_until(now + READ_FIRST_SECONDS)
        self._trace("question", prompt=self.question.prompt, at=now)

    def accept_change(self, now: float) -> None:
        self._settle_question(True, now)

    def refuse_change(self, now: float) -> None:
        self.gestures.forget_pending_press()   # the hold goes on: it must not become the power-off hold
        self._settle_question(False, now)

    def _settle_question(self, answer: bool | None, now: float) -> None:
        question, self.question, self.question_until = self.question, None, None
        in_time = question.answer(answer)
        self._trace("answer", answer=answer, in_time=in_time, at=now)
        log.info("change from the computer %s: %s", {True: "accepted", False: "refused", None: "dropped"}[answer],
                 question.prompt)
        if answer is None:
            self.notify("No answer: nothing changed")
        elif not in_time:
            self.notify("Too late: the computer gave up")
        self.back_to_idle(now)
        self.gestures.quiet_until(now + self.gestures.double_window)

    def apply_settings(self, settings: SettingsChanged) -> None:
        """An accepted change takes effect in idle; during a session it waits for its end."""
        if self.state in (State.RUNNING, State.PAUSED, State.SUMMARY):
            self._settings_waiting = settings
            return
        self._settings_waiting = None
        chosen = self.routine.name
        self.routines = list(settings.routines) or self.routines
        names = [routine.name for routine in self.routines]
        self.routine_index = names.index(chosen) if chosen in names else 0
        self.timeouts = self.presenter.timeouts = settings.timeouts
        self.haptics.retune(settings.levels, enabled=settings.haptics)
        if settings.intensity is not None:
            self.intensity = settings.intensity
        self.recorder.use_time_zone(settings.time_zone)
        self.presenter.turned = settings.turned
        self._keep_choices()
        self._trace("settings", routines=names, haptics=settings.haptics, time_zone=settings.time_zone)

    def shutdown(self, reason: str = "stop") -> None:
        """Motor off first, close the session as ended early, say "Off", then the panel off."""
        self.haptics.stop()
        now = self.clock.now()
        if self.pacer is not None and not self.pacer.ended:
            self._handle_cues(self.pacer.end_early(now))
            self.haptics.stop()
        # Closing the display afterwards clears it and turns the panel off.
        self.presenter.show_off()
        self.state = State.OFF
        log.info("stopped: %s", reason)

    # -- pacing cues -------------------------------------------------------------------

    def _handle_cues(self, cues: list[Cue]) -> None:
        for cue in cues:
            zone = self.pacer.zones[cue.zone_index]
            if cue.kind in ("zone_start", "switch_side"):   # traced and felt under the same name
                self._trace(cue.kind, index=cue.zone_index, id=zone.id, at=cue.at)
                self.haptics.play(cue.kind, cue.at, person_level=self.session_level)
            elif cue.kind == "tick":
                self.haptics.play("tick", cue.at, person_level=self.session_level,
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
            self.haptics.play("session_done", cue.at, person_level=self.session_level)
        else:
            self.haptics.stop()
        self.recorder.finish(pacer, cue.at, cue.reason)
        # Drawn once, complete: the week is worked out now, not when the log comes back from
        # the recorder's worker a moment later (the line would pop in).
        planned = sum(result.planned_seconds for result in pacer.results)
        progress = self.recorder.goal_with_this_session(pacer.active_seconds(cue.at), planned)
        self.summary = summary_view(self.routine, pacer, cue.at, completed=completed,
                                    streak=None if progress is None else goals.summary_phrase(progress))
        self.state = State.SUMMARY
        self.gestures.forget_pending_press()   # a press meant for the zone must not skip the summary
        self._summary_until = cue.at + self.timeouts.summary_return
        self._trace("session_end", reason=cue.reason, at=cue.at)
        log.info("session end: %s after %.0f s", cue.reason, self.summary.active_seconds)

    # -- the screen, the notices, the trace ----------------------------------------------

    def notify(self, message: str) -> None:
        """Show `message` on the notice bar for a few seconds (queued behind others); a long one
        is shown page by page."""
        self.presenter.notify(message)
        log.warning("%s", message)

    @property
    def brightness(self) -> str:
        return self.presenter.brightness(self)

    @property
    def sync_progress(self) -> SyncView | None:
        return self.presenter.sync

    def view(self, now: float):
        return self.presenter.view(self, now)

    def _show(self, now: float) -> None:
        shown = self.presenter.show(self, now)
        if shown is not None and shown is self.summary:
            self._trace("summary", **asdict(shown))   # the simulator's headless run waits for it

    def _trace(self, event: str, **fields) -> None:
        for listener in self._listeners:
            listener(event, **fields)

    @contextmanager
    def watching(self, listener: Callable[..., None]) -> Iterator[None]:
        """Inside the block, also call `listener(event, **fields)` for each event the app traces
        (the simulator learns this way that a session's summary was shown)."""
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)
