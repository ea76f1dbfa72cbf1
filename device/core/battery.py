"""The battery on the loop: reads the fuel gauge every 30 s and tells the app what it found.

A service like the watchdog (`next_deadline()`, `poll(now)` on the loop's clock). It never stops
anything itself: it puts a `BatteryStatus` on the loop's queue and the app decides (a notice
below the warning level; below the critical level no session, the running one ended, a clean
power-off). A gauge that does not answer is only "unknown": pacing goes on, and it is opened
again at the next reading.

It also learns how much charge a minute of session costs, from the charge at each session's
start and end (sessions with a charger on do not count), so the idle screen can say about how
many sessions of the selected routine are left. What it learned is kept in `battery.json` in the
state folder, since a person runs one session a day and the service restarts with every boot.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

from device.base.durable import write_atomically
from device.core.events import BatteryStatus

log = logging.getLogger("facepace")

READ_EVERY_SECONDS = 30.0
MEASURED_SESSIONS_NEEDED = 3     # before the screen guesses how many sessions are left
SESSIONS_REMEMBERED = 10
SHORTEST_MEASURED_MINUTES = 1.0  # shorter sessions say more about the gauge's rounding than the cell


class BatteryMonitor:
    """Reads `open_gauge()`'s gauge every READ_EVERY_SECONDS and calls `tell(BatteryStatus)`
    when there is something new to say. Also a trace listener: `trace(event, **fields)` hears
    the app's session_start and session_end."""

    def __init__(self, open_gauge: Callable[[], object], clock, tell: Callable[[BatteryStatus], None], *,
                 warning_percent: float, critical_percent: float, memory: Path | None = None) -> None:
        self._open_gauge = open_gauge
        self._clock = clock
        self._tell = tell
        self.warning_percent = warning_percent
        self.critical_percent = critical_percent
        self._memory = memory
        self._gauge = None
        self._due = clock.now()
        self._last: BatteryStatus | None = None
        self._session_start: tuple[float, float] | None = None   # (at, percent)
        self.measured: list[tuple[float, float]] = recall(memory)   # (percent used, minutes) per session

    # -- the loop ---------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return self._due

    def poll(self, now: float) -> None:
        if now < self._due:
            return
        self._due = now + READ_EVERY_SECONDS
        status = self.status(self.read())
        if status != self._last:
            self._last = status
            self._tell(status)

    def read(self):
        """The gauge's reading, or None when it does not answer (opened again next time)."""
        try:
            if self._gauge is None:
                self._gauge = self._open_gauge()
            return self._gauge.read()
        except Exception as error:   # a missing bus, a NACK, a confused chip: never a stop, pacing goes on
            if self._last is None or self._last.level != "unknown":
                log.warning("battery gauge not answering: %s", error)
            self.close()
            return None

    def status(self, reading) -> BatteryStatus:
        if reading is None:
            return BatteryStatus("unknown")
        percent = round(reading.percent, 1)
        if reading.voltage_low or percent < self.critical_percent:
            level = "critical"
        elif percent < self.warning_percent:
            level = "warning"
        else:
            level = "ok"
        return BatteryStatus(level, percent, reading.charging, self.minutes_left(percent))

    def minutes_left(self, percent: float) -> float | None:
        """Minutes of session the charge above the critical level lasts, from the sessions measured."""
        if len(self.measured) < MEASURED_SESSIONS_NEEDED:
            return None
        used = sum(percent_used for percent_used, _ in self.measured)
        minutes = sum(minutes for _, minutes in self.measured)
        if used <= 0:
            return None
        return max(0.0, percent - self.critical_percent) * minutes / used

    # -- measuring sessions (a trace listener) ----------------------------------------------

    def trace(self, event: str, **fields) -> None:
        if event == "session_start":
            reading = self.read()
            self._session_start = None
            if reading is not None and not reading.charging:
                self._session_start = (fields.get("at", self._clock.now()), reading.percent)
        elif event == "session_end" and self._session_start is not None:
            (started, percent_then), self._session_start = self._session_start, None
            reading = self.read()
            minutes = (fields.get("at", self._clock.now()) - started) / 60
            if reading is None or reading.charging or minutes < SHORTEST_MEASURED_MINUTES:
                return
            self.measured = [*self.measured, (max(0.0, percent_then - reading.percent), minutes)][-SESSIONS_REMEMBERED:]
            _remember(self._memory, self.measured)
            self._due = self._clock.now()   # the idle screen's estimate, at once

    def close(self) -> None:
        gauge, self._gauge = self._gauge, None
        if gauge is not None:
            gauge.close()


def recall(memory: Path | None) -> list[tuple[float, float]]:
    """The sessions measured before; anything unreadable is forgotten (it is only an estimate)."""
    if memory is None or not memory.exists():
        return []
    try:
        sessions = json.loads(memory.read_text())["sessions"]
        measured = [(float(used), float(minutes)) for used, minutes in sessions]
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring %s: %s", memory, error)
        return []
    return [(used, minutes) for used, minutes in measured
            if 0 <= used <= 100 and 0 < minutes <= 24 * 60][-SESSIONS_REMEMBERED:]


def _remember(memory: Path | None, measured: list[tuple[float, float]]) -> None:
    if memory is None:
        return
    try:
        write_atomically(memory, json.dumps({"sessions": measured}).encode())
    except OSError as error:   # a full or read-only card: the estimate waits, nothing else does
        log.warning("cannot keep %s: %s", memory, error)
