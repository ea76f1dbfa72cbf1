"""The person's settings and routines from the computer, as the running device takes them.

At start the device runs on defaults < /etc/facepace/config.toml < the stored settings
(`owner.merged_config`) and the routines in the person's order; a store that fell back to
its last good version says so on the screen. While it runs, the sync's `OwnerDesk` asks the
person through the loop's inbox (`ChangeAsked`, answered on the screen) and a stored change
comes back the same way (`SettingsChanged`), applied in idle without a restart. On the device
the sync is a process of its own: its desk asks over the channel (device.service.sync_link),
and the firmware keeps a desk of its own for a USB stick's routines. The panel's
rotation is set when it is opened: a different one from the computer turns the picture instead.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from device.base.errors import FacepaceError
from device.core.events import ChangeAsked, Notice, SettingsChanged
from device.core.haptics import MotorLevels
from device.core.state import Timeouts
from device.settings.config import Config
from device.settings.owner import MAX_ROUTINE_BYTES, Owned, PutRoutine, merged_config, routines_in_order
from device.settings.ownerstore import OwnerStore

log = logging.getLogger("facepace")

OWNER_FOLDER = "owner"      # in the state folder
ANSWER_GRACE = 5.0          # the desk's backstop after the screen's own minute
INBOX_EVERY = 1.0           # seconds between looks at the inbox


@dataclass(frozen=True)
class InUse:
    """What the device runs on: the merged config, the double press's routines, the same as
    the app's `SettingsChanged`, and a notice when the stored settings could not all be used."""

    config: Config
    routines: list
    settings: SettingsChanged
    notice: str | None = None


def in_use(base: Config, others: list, owned: Owned) -> InUse:
    """`owned` on top of `base` (defaults < /etc) and `others` (built-ins, /etc's routines)."""
    notice = None
    try:
        config = merged_config(base, owned)
    except FacepaceError as error:   # /etc changed under the stored settings: /etc wins, said so
        log.warning("settings from the computer not used: %s", error)
        config, owned = base, Owned(routines=owned.routines)
        notice = "Settings from the computer not used: see the journal"
    routines = routines_in_order(owned, others)
    timeouts = config.timeouts
    motor = config.motor
    settings = SettingsChanged(
        routines=tuple(routines),
        timeouts=Timeouts(timeouts.dim_after, timeouts.off_after, timeouts.summary_return, timeouts.pause_limit),
        levels=MotorLevels(motor.min_duty, motor.max_duty, motor.kick_ms / 1000), haptics=motor.haptics,
        time_zone=owned.settings.get("time_zone"), intensity=config.session.intensity,
        turned=config.display.rotation != base.display.rotation)
    return InUse(config, routines, settings, notice)


def at_start(base: Config, others: list, state_dir: Path | None) -> InUse:
    """The stored settings, or the last good ones (said so), or none (said so); none
    without a state folder."""
    if state_dir is None:
        return in_use(base, others, Owned())
    loaded = OwnerStore(state_dir / OWNER_FOLDER).load()
    now = in_use(base, others, loaded.owned)
    if loaded.notice is None:
        return now
    log.warning("%s", loaded.notice)
    fell_back = "Started on the last good settings" if loaded.version else "Settings from the computer unreadable: not used"
    return dataclasses.replace(now, notice=fell_back)


class Settings:
    """What a change stored in the owner store means for the running device: `changed(owned)`
    is the app's `SettingsChanged` (a new default intensity only when it changed since the
    last one). `running_on`: the config the device started on."""

    def __init__(self, base: Config, others: list, state_dir: Path, *, running_on: Config) -> None:
        self.base, self.others = base, others
        self.store = OwnerStore(state_dir / OWNER_FOLDER)
        self._before = running_on

    def changed(self, owned: Owned | None = None) -> SettingsChanged:
        """For `owned`, or what the store holds now (another process stored it)."""
        now = in_use(self.base, self.others, self.store.load().owned if owned is None else owned)
        changed_intensity = now.config.session.intensity != self._before.session.intensity
        self._before = now.config
        return dataclasses.replace(now.settings, intensity=now.config.session.intensity if changed_intensity
                                   else None)


def owner_desk(settings: Settings, *, events: queue.SimpleQueue, clock, busy: Callable[[], bool]):
    """The desk for the person's changes, asking and telling through `events`: the sync's in
    the simulator, a USB stick's in the firmware. `busy()`: a session or its summary is on
    (called from the sync's thread too)."""
    from device.sync.ownerdesk import ANSWER_WITHIN, OwnerDesk

    def ask(question) -> None:
        events.put(ChangeAsked(question.prompt, question.settle))

    return OwnerDesk(settings.store, base=settings.base, others=settings.others, ask=ask, in_session=busy,
                     on_change=lambda owned: events.put(settings.changed(owned)),
                     answer_within=ANSWER_WITHIN, grace=ANSWER_GRACE, monotonic=clock.now)


class DeskOnFirstUse:
    """The USB stick's desk, built when the first routine is offered from a stick: most starts
    never need it, and its protocol modules would cost a Pi's start a tenth of a second (issue 12)."""

    def __init__(self, build: Callable[[], object]) -> None:
        self._build = build
        self._desk = None

    def offer(self, change):
        return self._open().offer(change)

    def status(self, change_id: int):
        return self._open().status(change_id)

    def _open(self):
        if self._desk is None:
            self._desk = self._build()
        return self._desk


class StickInbox:
    """A loop service: the routines `facepace export` copied off a USB stick's
    `facepace/routines/` into `folder` are offered to the desk one at a time, checked and
    asked exactly as a computer's push; each file goes once its change is settled, and what
    the checks refused is said on the screen (there is no computer to print it)."""

    def __init__(self, folder: Path, desk, send: Callable[[object], None], *, clock) -> None:
        self.folder = Path(folder)
        self._desk = desk
        self._send = send
        self._next = clock.now()
        self._offered: tuple[Path, int] | None = None   # the file and its change id

    def next_deadline(self) -> float | None:
        return self._next

    def poll(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + INBOX_EVERY
        if self._offered is not None:
            self._follow(*self._offered)
            return
        try:
            waiting = sorted(path for path in self.folder.glob("*.toml") if path.is_file())
        except OSError:
            return
        if not waiting:
            return
        path = waiting[0]
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_ROUTINE_BYTES + 1)   # the desk refuses more; no need to read it all
        except OSError as error:
            log.warning("cannot read %s from a USB stick: %s", path, error)
            self._done(path)
            return
        change_id = self._desk.offer(PutRoutine(path.stem, data))
        if change_id is not None:
            self._offered = (path, change_id)
            self._follow(path, change_id)

    def _follow(self, path: Path, change_id: int) -> None:
        status = self._desk.status(change_id)
        if status is not None and status[0] in ("asking", "busy"):
            return
        state, problems, message = status or ("timed_out", [], "")
        if state == "rejected":
            self._send(Notice(f"Not taken from the stick: {problems[0] if problems else path.name}"))
        elif state == "unchanged":
            self._send(Notice(f"Already on the device: {path.stem}"))
        elif state == "failed":
            self._send(Notice(f"Not stored: {message}"))
        self._offered = None
        self._done(path)

    def _done(self, path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass
