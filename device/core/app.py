"""The application: one loop owns the state; the button, the clock and the display feed it.

States (`device.core.state`): idle → running ⇄ paused → summary → idle; from idle a long hold
goes to powering-off; a change from the computer is asked in idle (asking → idle); any state
ends in off. This module decides what happens; what the panel shows of it is
`device.core.presenter`'s, and how the loop waits is `device.core.loop`'s.
"""

from __future__ import annotations

import logging
import queue
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, Sequence

from device.core.events import (ButtonEdge, ChangeAsked, DisplayStatus, Notice, QuestionWithdrawn, SettingsChanged,
                                Stop, SyncProgress)
from device.core.gestures import GestureRecognizer
from device.core.haptics import HapticPlayer, level_pattern
from device.core.loop import serve
from device.core.pacing import Cue, Pacer
from device.core.presenter import Presenter, Screen, summary_view
from device.core.state import DOUBLE_PRESS_STATES, GESTURE_ACTIONS, State, Timeouts
from device.log.recording import NullRecorder
from device.screen.views import SummaryView, SyncView
from device.settings.choices import Choices

__all__ = ["App", "Hooks", "Screen", "State", "Timeouts"]

log = logging.getLogger("facepace")

READ_FIRST_SECONDS = 1.0   # a question ignores presses this long: time to read it, none meant for idle


@dataclass(frozen=True)
class Hooks:
    """The app's ties to the world outside its loop; any may be left out."""

    trace: Callable[..., None] | None = None               # trace(event, **fields): a file, the log
    keep_choices: Callable[[Choices], None] | None = None  # the person changed intensity or routine
    request_power_off: Callable[[], None] | None = None    # None: a long hold just stops the loop
    button_is_pressed: Callable[[], bool] | None = None    # the pin's level, to double-check a long hold
    services: Sequence = ()                                # polled on the loop's clock: next_deadline(), poll(now)


class App:
    def __init__(self, routines: Sequence, choices: Choices, *, clock, haptics: HapticPlayer,
                 gestures: GestureRecognizer, screen: Screen, hooks: Hooks = Hooks(), recorder=None,
                 timeouts: Timeouts = Timeouts(), notices: Sequence[str] = ()) -> None:
        """`choices`: the person's intensity and routine (by name; an unknown name means the
        first routine). `notices`: problems found at start, shown once each."""
        if not routines:
            raise ValueError("no routines to offer")
        self.routines = list(routines)
        names = [routine.name for routine in self.routines]
        self.routine_index = names.index(choices.routine) if choices.routine in names else 0
        self.intensity = choices.intensity
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
        if self.state is State.SUMMARY and now >= self._summary_until:
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
        waking = pressed and self.state is State.IDLE and self.brightness == "off"
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
        self.intensity = self.intensity % 5 + 1
        self.haptics.play(level_pattern(self.intensity), now, person_level=self.intensity)
        self._keep_choices()

    def _keep_choices(self) -> None:
        if self.hooks.keep_choices is not None:
            self.hooks.keep_choices(Choices(self.intensity, self.routine.name))

    def power_off(self, now: float) -> None:
        """Ten seconds' hold in idle: a clean power-off. The 1.5 s hold on the way there
        changed the intensity, which the person did not mean: put it back."""
        button_is_pressed = self.hooks.button_is_pressed
        if button_is_pressed is not None and not button_is_pressed():
            log.warning("long hold ignored: the button is not down (a release edge was lost)")
            self.gestures.forget()
            return
        self.intensity = (self.intensity - 2) % 5 + 1
        self._keep_choices()
        self.state = State.POWERING_OFF
        self._trace("power_off")
        log.warning("power off requested by a 10 s hold")
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

    def start_session(self, now: float) -> None:
        routine = self.routine
        self.pacer = Pacer(tuple(routine.active_zones), now, pause_limit=self.timeouts.pause_limit)
        self.state = State.RUNNING
        self.summary = None
        self.recorder.begin(routine, self.intensity, now)
        self._trace("session_start", routine=routine.name, at=now)
        log.info("session start: %s at intensity %d", routine.name, self.intensity)
        self._handle_cues(self.pacer.due(now))

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
                self.haptics.play(cue.kind, cue.at, person_level=self.intensity)
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
        self.summary = summary_view(self.routine, pacer, cue.at, completed=completed,
                                    streak=self.recorder.streak_with_this_session() or 0)
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
