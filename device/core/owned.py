"""The person's settings and routines from the computer, as the running device takes them.

At start the device runs on defaults < /etc/facepace/config.toml < the stored settings
(`owner.merged_config`) and the routines in the person's order; a store that fell back to
its last good version says so on the screen. While it runs, the sync's `OwnerDesk` asks the
person through the loop's inbox (`ChangeAsked`, answered on the screen) and a stored change
comes back the same way (`SettingsChanged`), applied in idle without a restart. The panel's
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
from device.core.events import ChangeAsked, SettingsChanged
from device.core.haptics import MotorLevels
from device.core.state import Timeouts
from device.settings.config import Config
from device.settings.owner import Owned, merged_config, routines_in_order
from device.settings.ownerstore import OwnerStore

log = logging.getLogger("facepace")

OWNER_FOLDER = "owner"      # in the state folder
ANSWER_GRACE = 5.0          # the desk's backstop after the screen's own minute


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


def owner_desk(base: Config, others: list, state_dir: Path, *, events: queue.SimpleQueue, clock,
               busy: Callable[[], bool]):
    """The sync's desk for the person's changes, asking and telling through `events`.
    `busy()`: a session or its summary is on (runs on the sync's thread)."""
    from device.sync.ownerdesk import ANSWER_WITHIN, OwnerDesk

    before = [in_use(base, others, OwnerStore(state_dir / OWNER_FOLDER).load().owned).config]

    def ask(question) -> None:
        events.put(ChangeAsked(question.prompt, question.settle))

    def stored(owned: Owned) -> None:
        now = in_use(base, others, owned)
        changed_intensity = now.config.session.intensity != before[0].session.intensity
        before[0] = now.config
        events.put(dataclasses.replace(now.settings, intensity=now.config.session.intensity if changed_intensity
                                       else None))

    return OwnerDesk(OwnerStore(state_dir / OWNER_FOLDER), base=base, others=others, ask=ask, in_session=busy,
                     on_change=stored, answer_within=ANSWER_WITHIN, grace=ANSWER_GRACE, monotonic=clock.now)
