"""The weekly goal's settings as the running device follows them, and the rest set on the device.

The config's `[goal]` with the computer's settings on top (the owner store in the state folder:
goal, time zone, rest periods), as `facepace stats` reads them (device.cli.log). A rest set
with the device's gesture is saved through the same store, so the computer sees it at the
next sync and the device keeps it across restarts.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable

from device.log import goals
from device.settings.owner import Owned
from device.settings.ownerstore import OwnerStore
from device.settings.settable import apply_to_config

log = logging.getLogger("facepace")


class GoalSettings:
    def __init__(self, config, owner_folder: Path | None, *, wall_time: Callable[[], float]) -> None:
        """`owner_folder`: the owner store's (None: the config alone, nothing kept)."""
        self._config = config
        self._store = None if owner_folder is None else OwnerStore(owner_folder)
        self._wall_time = wall_time
        self._owned = Owned() if self._store is None else self._store.load().owned

    @property
    def goal(self):
        """The `[goal]` section, the computer's values on top (gentle start, anchor, goal)."""
        return apply_to_config(self._config, self._owned.settings).goal

    def rules(self) -> goals.GoalRules:
        settings = self._owned.settings
        return goals.rules_from(self.goal, time_zone=settings.get("time_zone"),
                                rest_periods=settings.get("rest_periods"))

    def set_rest(self, days: int) -> goals.GoalRules:
        """A rest of `days` from today, saved with the computer's other settings; the new rules.
        A card that refuses keeps the rest for this run only (logged)."""
        today = goals.today_of(self._wall_time(), self.rules())
        settings = dict(self._owned.settings)
        settings["rest_periods"] = goals.rest_periods_set(settings.get("rest_periods"), today, days=days)
        self._owned = dataclasses.replace(self._owned, settings=settings)
        if self._store is not None:
            try:
                self._store.save(self._owned)
            except OSError as error:
                log.warning("could not keep the rest: %s", error)
        return self.rules()
