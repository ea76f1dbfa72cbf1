"""A simulated year of use (issue 10), shared by `tests/device/sim/test_year_drill.py` (a month, in
`make test`) and `bench/year_drill.py` (a year, in `make bench`).

The other drills attack one thing each; this one lives with the device. One seed gives one
life, played on the virtual clock through the same composition root as the firmware
(`assemble` on `simulated_parts`, with a `HostWallClock` and the `SyncServer` beside the loop),
on gpiozero's mock pins and the fake I2C bus under the real SSD1306 driver:

- about 1.35 sessions a day at random times (some days none, so streaks break), random
  routines and intensities chosen in idle, and in each session gestures at random moments
  and exactly at zone changes (where cues play): pauses (some into the limit), skips, holds;
  between sessions the screen dims and goes off, and a press wakes it;
- syncs over real pseudo-terminals at random times, some during a session, some cut after
  a random number of bytes (`tests.support.sync_testing.PtyLink`); the host is the real client
  (`companion.sync_client.sync`) into a real `HostDb`;
- a panel that fails now and then: out for a while, or flaky within one session (failing and
  coming back every few steps), with `OSError` or another exception from the bus;
- a full card for a week (every connection the log opens is made unable to grow:
  `PRAGMA max_page_count`, SQLite's own "database or disk is full");
- a few SIGKILLs (the process abandoned where it stands: nothing closed, nothing flushed,
  the serial port dropped; the log is opened afresh as systemd would restart it), clean
  restarts, and one boot with the clock days behind and not trusted (a Pi has no RTC),
  followed by a sync that must date its sessions.

Invariants are checked after every step (a gesture played out, a stretch of idle, a sync,
a boot); each failure is recorded with `seed=N day=D step=S` so it can be replayed, and the
life goes on (a crash of the loop is itself a failure, then a restart, as systemd would).

Time: the device's monotonic clock is a `VirtualClock` that starts at 0 at every boot. The
world's time (what a correct wall clock reads) is the boot's world time at 0 plus the clock;
syncs run in real time while the virtual clock stands still, so a whole year stays
deterministic except for what the sync threads do, which the invariants do not depend on.
"""

from __future__ import annotations

import errno
import math
import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from device.log import goals, history
from device.log import logdb
from device.core.assemble import assemble, sync_event
from device.core.clock import VirtualClock
from device.settings.config import Config
from device.core.events import Stop
from device.core.parts import simulated_parts
from device.settings.routines import load_library
from device.sim.simulator import finger_downs
from device.log.clockfix import HostWallClock
from companion.sync_client import SyncError, open_device, sync as host_sync
from companion.hostdb import HostDb
from device.sync.server import SyncServer
from tests.support.sync_testing import Faults, PtyLink
from device.screen.views import IdleView
from drivers.fakes.i2c import FakeSSD1306Bus

FIRST_DAY = date(2027, 1, 4)          # a Monday
SESSIONS_PER_DAY = {0: 0.15, 1: 0.45, 2: 0.30, 3: 0.10}   # about 1.35 a day
SYNC_TIMEOUT = 3.0                    # seconds (real) the host waits for a reply; bounds a cut sync
UNSAVED_GRACE = 600.0                 # idle seconds after the card has room before kept sessions must be written
CUE_PATTERNS = ("zone_start", "switch_side", "session_done")
# The log's size: a fixed part, then about 2 KiB a session (one row and its zones);
# SQLite's WAL is checkpointed at 1,000 pages, so it never holds much more than that.
DATABASE_BYTES = 64 * 1024
SESSION_BYTES = 4 * 1024
WAL_BYTES = 1_010 * 4096 + 65_536

# The invariants, by name (a failure names one of these).
MOTOR_OFF = "motor off when nothing plays"
LOGGED_ONCE = "every finished session in the log once, with all its zones"
WRITTEN_WHEN_ROOM = "sessions kept in memory are written soon after the card has room"
HOST_EQUALS_DEVICE = "host equals device after a sync"
DATES_FIXED = "a sync dates the sessions of a boot with a wrong clock"
IDLE_EQUALS_STATS = "idle screen's streak and week equal facepace stats"
CUES_FELT = "every cue is felt"
ERROR_OVER_CUES = "the display's error pattern never drops or cuts a cue"
LOOP_ALIVE = "the loop never crashes"
MEMORY_BOUNDED = "memory stays bounded"
LOG_SIZE_BOUNDED = "the log's size stays bounded"


def local_midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day).timestamp()


# --- The card ----------------------------------------------------------------------------

class Card:
    """The SD card the log lives on; `full = True` makes every connection unable to grow."""

    def __init__(self) -> None:
        self.full = False
        self._connections: list = []

    def connect(self, path: Path):
        connection = logdb.connect(path)
        self._connections.append(connection)
        self._limit(connection)
        return connection

    def set_full(self, full: bool) -> None:
        self.full = full
        for connection in list(self._connections):
            try:
                self._limit(connection)
            except logdb.sqlite3.ProgrammingError:   # closed
                self._connections.remove(connection)

    def _limit(self, connection) -> None:
        pages = connection.execute("PRAGMA page_count").fetchone()[0] if self.full else 2**31
        connection.execute(f"PRAGMA max_page_count = {int(pages)}")


# --- One boot of the device --------------------------------------------------------------

@dataclass
class Expected:
    """What the device showed of one session, to be found in the log."""

    boot_id: str
    mono_start: float
    world_start: float
    routine: str
    zone_count: int
    outcome: str | None = None          # None while under way; "interrupted" after a crash
    zones_done: int | None = None
    zones_skipped: int | None = None
    active_seconds: float | None = None


class Boot:
    """The firmware from power-on to power-off, built by the root `device.service.firmware.serve` uses."""

    def __init__(self, life: "Life", *, clock_behind: float = 0.0) -> None:
        self.life = life
        config = life.config
        self.clock = VirtualClock()
        self.world_at_zero = life.world_now
        self.clock_behind = clock_behind
        self.wall = HostWallClock(system_time=lambda: self.world_at_zero + self.clock.now() - clock_behind)
        self.bus = FakeSSD1306Bus(address=config.display.address)
        self.bus_rng = random.Random(life.rng.random())   # a flaky panel's failures, replayable
        parts = simulated_parts(config, self.clock, state_dir=life.state_dir, bus=self.bus, wall_clock=self.wall)
        trusted = clock_behind == 0
        self.device = assemble(config, life.routines, parts, traces=[self._trace],
                               log_options=dict(clock_synced=lambda: trusted, connect=life.card.connect))
        self.app, self.events = self.device.app, self.device.events
        self.button, self.motor, self.recorder = self.device.button, self.device.motor, self.device.recorder
        self.log = self.recorder.session_log
        # The sync server beside the loop as the firmware runs it, but on the virtual clock.
        self.server = SyncServer(life.link.device_port, self.log, wall_clock=self.wall,
                                 on_status=self._sync_status, monotonic=self.clock.now,
                                 reopen_delay=0.05).start()
        self.session: Expected | None = None
        self._cue_waiting: str | None = None   # a cue traced, its haptic not (yet)
        self._playing_at_cue: str | None = None
        self._last_cue_felt = -math.inf

    @property
    def world_now(self) -> float:
        return self.world_at_zero + self.clock.now()

    # -- the person's finger -------------------------------------------------------------

    def gesture(self, at: float, gesture: str) -> float:
        """Play `gesture` from `at` (boot seconds); returns when the app has surely read it."""
        pin = self.button.pin
        downs = finger_downs(at, gesture, hold_seconds=self.life.config.button.hold_seconds)
        for down, up in downs:
            self.clock.call_at(down, pin.drive_low)
            self.clock.call_at(up, pin.drive_high)
        return downs[-1][1] + self.life.config.button.double_press_ms / 1000 + 0.05

    def run_until(self, at: float) -> None:
        """Run the loop until `at` (boot seconds); a crash of the loop goes up."""
        at = max(at, self.clock.now())
        self.clock.call_at(at, lambda: None)   # wakes the loop at `at` even with nothing due
        self.app.run(self.events, until=lambda: self.clock.now() >= at and self.events.empty())

    # -- what the app tells ----------------------------------------------------------------

    def _trace(self, event: str, **fields) -> None:
        life = self.life
        if self._cue_waiting is not None and not (event == "haptic" and fields["pattern"] == self._cue_waiting):
            life.fail(ERROR_OVER_CUES if self._playing_at_cue == "error" else CUES_FELT,
                      f"{self._cue_waiting} cue at {self.clock.now():.2f} s was not played"
                      f" ({self._playing_at_cue} was playing)")
        self._cue_waiting = None
        if event in ("zone_start", "switch_side"):
            self._cue_waiting = event
            # What was playing when the cue came, to tell a cue drowned by the display's error
            # pattern from one lost otherwise.
            self._playing_at_cue = self.app.haptics.playing
        elif event == "haptic":
            pattern = fields["pattern"]
            now = self.clock.now()
            if pattern in CUE_PATTERNS:
                self._last_cue_felt = now
            elif pattern == "error" and now - self._last_cue_felt < 1.0:
                life.fail(ERROR_OVER_CUES, f"the error pattern cut into a cue {now - self._last_cue_felt:.2f} s after it")
        elif event == "session_start":
            self.session = Expected(self.log.boot_id, fields["at"], self.world_at_zero + fields["at"],
                                    fields["routine"], len(self.app.pacer.zones))
            life.expected.append(self.session)
        elif event == "session_end":
            summary = self.app.summary
            session, self.session = self.session, None
            session.outcome = fields["reason"]
            session.zones_done, session.zones_skipped = summary.zones_done, summary.zones_skipped
            session.active_seconds = summary.active_seconds
            life.finished += 1

    def _sync_status(self, status) -> None:
        event = sync_event(status)
        if event is not None:
            self.events.put(event)

    # -- the end of a boot -----------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL: nothing is closed or flushed; the kernel drops the serial port."""
        self.server.close()
        self.clock.close()
        if self.session is not None and self.session.outcome is None:
            self.session.outcome = "interrupted"
            self.session = None

    def stop(self) -> None:
        """SIGTERM: the loop ends the session under way, then everything is closed in order."""
        self.events.put(Stop("SIGTERM"))
        self.app.run(self.events)
        self.server.close()
        self.clock.close()
        self.device.close()   # the motor off first, then the button, the log, the panel


# --- A life ------------------------------------------------------------------------------

@dataclass
class Failure:
    invariant: str
    seed: int
    day: int
    step: int
    message: str

    def __str__(self) -> str:
        return f"seed={self.seed} day={self.day} step={self.step}: {self.invariant}: {self.message}"


@dataclass
class Report:
    seed: int
    days: int
    sessions: int = 0
    checks: int = 0
    syncs: int = 0
    syncs_cut: int = 0
    kills: int = 0
    restarts: int = 0
    crashes: int = 0
    panel_outages: int = 0
    date_fix_checks: int = 0      # syncs that had to date a wrong clock's sessions
    steps_on_a_full_card: int = 0  # steps that ended with sessions only in memory, the card full
    sessions_lost: int = 0        # kept in memory on a full card when the loop crashed
    failures: list[Failure] = field(default_factory=list)
    failure_counts: Counter = field(default_factory=Counter)
    rss_mib: list[float] = field(default_factory=list)      # at each month's end
    log_bytes: int = 0
    seconds: float = 0.0

    def failed(self, invariant: str) -> list[Failure]:
        return [f for f in self.failures if f.invariant == invariant]

    def summary(self) -> str:
        lines = [f"seed={self.seed}: {self.days} days, {self.sessions} sessions, {self.checks} checks,"
                 f" {self.syncs} syncs ({self.syncs_cut} cut, {self.date_fix_checks} dating a wrong clock),"
                 f" {self.kills} kills, {self.restarts} restarts,"
                 f" {self.crashes} loop crashes ({self.sessions_lost} sessions lost with them),"
                 f" {self.panel_outages} panel outages,"
                 f" log {self.log_bytes / 1024:.0f} KiB, RSS {self.rss_mib} MiB, {self.seconds:.0f} s"]
        for invariant, count in sorted(self.failure_counts.items()):
            first = next(f for f in self.failures if f.invariant == invariant)
            lines.append(f"  {count} x {invariant}; first: {first}")
        return "\n".join(lines)


@dataclass
class SessionPlan:
    at: float                     # world time the person picks up the device
    kill_at_step: int | None = None
    sync_at_step: int | None = None
    sync_cut: int | None = None
    panel: str | None = None      # None, "out" (for a while) or "flaky" (1% of transactions fail)
    panel_error: type = OSError


class Life:
    """One seeded life: `Life(seed, days, folder).run()` gives a `Report`."""

    MAX_FAILURES_KEPT = 50

    def __init__(self, seed: int, days: int, folder: Path) -> None:
        self.seed, self.days = seed, days
        # Two streams: the calendar (what happens on which day) does not depend on how the
        # device answered the person, so a fix in the app does not change a seed's year.
        self.plan_rng = random.Random(seed)
        self.rng = random.Random(f"{seed}/person")
        self.state_dir = folder / "device"
        self.host_db = folder / "host.db"
        self.config = Config()
        self.routines = list(load_library(None).routines)
        self.card = Card()
        self.link = PtyLink(seed=seed)
        self.report = Report(seed, days)
        self.expected: list[Expected] = []
        self.finished = 0
        self.day = self.step = 0
        self.world_now = local_midnight(FIRST_DAY)
        self.boot: Boot | None = None
        self.wrong_clock_boot: str | None = None   # its boot id, until a sync has dated it
        self.room_since: float | None = None       # world time the card had room again
        self._plan()

    # -- the plan: one seed, one year ------------------------------------------------------

    def _plan(self) -> None:
        rng, days = self.plan_rng, self.days
        # Special days, spread over the life whatever its length (a month has one of each).
        self.full_from = rng.randrange(days // 4, days // 2)
        self.full_until = self.full_from + max(3, min(7, days // 8))
        self.wrong_clock_day = rng.randrange(self.full_until + 1, max(self.full_until + 2, days * 3 // 4))
        calm = [d for d in range(1, days - 1) if not self.full_from - 1 <= d <= self.full_until
                and not self.wrong_clock_day <= d <= self.wrong_clock_day + 3]
        self.kill_days = set(rng.sample(calm, k=min(len(calm), max(2, days // 60))))
        self.restart_days = {d for d in range(days) if rng.random() < 0.02} - self.kill_days \
            - set(range(self.wrong_clock_day - 1, self.wrong_clock_day + 4))
        self.sync_days = {d for d in range(days) if rng.random() < 0.12} | {self.wrong_clock_day + 2}
        self.panel_days = {d for d in range(days) if rng.random() < 0.04} | {days // 3}
        self.cut_sync_day = rng.choice(sorted(self.sync_days - {self.wrong_clock_day + 2}) or [days - 1])

    def _day_sessions(self, day: int, midnight: float) -> list[SessionPlan]:
        rng = self.plan_rng
        count = rng.choices(list(SESSIONS_PER_DAY), weights=list(SESSIONS_PER_DAY.values()))[0]
        if day in self.panel_days:
            count = max(count, 1)   # a panel fails while it is used
        starts, plans = sorted(rng.uniform(6.5, 22.5) * 3600 for _ in range(count)), []
        for index, start in enumerate(starts):
            if plans and start < plans[-1].at - midnight + 2400:
                start = plans[-1].at - midnight + 2400   # a session and its summary fit between
            plan = SessionPlan(midnight + start)
            if day in self.kill_days and index == 0:
                plan.kill_at_step = rng.randint(1, 4)
            if day in self.sync_days and day != self.wrong_clock_day + 2 and rng.random() < 0.5:
                plan.sync_at_step = rng.randint(1, 12)
                plan.sync_cut = rng.randint(40, 4000) if rng.random() < 0.3 else None
            if day in self.panel_days and index == 0:
                plan.panel = rng.choice(["out", "flaky"])
                plan.panel_error = rng.choice([OSError, OSError, RuntimeError, ValueError])
                if day == self.days // 3:   # a loose contact in any life
                    plan.panel, plan.panel_error = "flaky", OSError
            plans.append(plan)
        return plans

    # -- running ---------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.perf_counter()
        try:
            self.boot = Boot(self)
            self.check_log()
            for self.day in range(self.days):
                self._live_day()
                if (self.day + 1) % 30 == 0 or self.day == self.days - 1:
                    self._month_end()
            self._last_sync()
        finally:
            if self.boot is not None:
                try:
                    self.boot.stop()
                except Exception as error:   # the report must still come out
                    self.fail(LOOP_ALIVE, f"stop failed: {error!r}")
            self.link.close()
        self.report.sessions = self.finished
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _live_day(self) -> None:
        rng, day = self.plan_rng, self.day
        today = FIRST_DAY + timedelta(days=day)
        midnight = local_midnight(today)
        if day == self.full_from:
            self.card.set_full(True)
        if day == self.full_until:
            self.card.set_full(False)
            self.room_since = midnight
        sessions = self._day_sessions(day, midnight)
        things: list[tuple[float, str, object]] = [(plan.at, "session", plan) for plan in sessions]
        # The sync after the boot with a wrong clock is never cut: it must date that boot's sessions.
        if day in self.sync_days and not any(p.sync_at_step for p in sessions):
            cut = rng.randint(40, 4000) if rng.random() < 0.3 and day != self.wrong_clock_day + 2 else None
            things.append((midnight + rng.uniform(0, 86000), "sync", cut))
        if day == self.cut_sync_day:     # at least one cable pulled in any life
            things.append((midnight + rng.uniform(0, 86000), "sync", rng.randint(40, 4000)))
        if day in self.kill_days and not sessions:
            things.append((midnight + rng.uniform(0, 86000), "kill", None))
        if day in self.restart_days:
            things.append((midnight + rng.uniform(0, 86000), "restart", 0.0))
        if day == self.wrong_clock_day:
            things.append((midnight + 3 * 3600, "restart", rng.uniform(2, 40) * 86400))
        for at, kind, detail in sorted(things, key=lambda thing: thing[0]):
            self.idle_until(at)
            if kind == "session":
                self.session(detail)
            elif kind == "sync":
                self.sync(detail)
            elif kind == "kill":
                self.kill()
            else:
                self.restart(clock_behind=detail)
        self.idle_until(local_midnight(today + timedelta(days=1)))

    def _month_end(self) -> None:
        self.report.rss_mib.append(round(rss_bytes() / 2**20, 1))
        database, wal = (file_size(self.state_dir / name) for name in ("sessions.db", "sessions.db-wal"))
        self.report.log_bytes = database + wal
        limit = DATABASE_BYTES + SESSION_BYTES * len(self.expected)
        if database > limit:
            self.fail(LOG_SIZE_BOUNDED, f"{database} bytes for {len(self.expected)} sessions (limit {limit})")
        if wal > WAL_BYTES:
            self.fail(LOG_SIZE_BOUNDED, f"the WAL holds {wal} bytes (limit {WAL_BYTES})")
        samples = self.report.rss_mib
        if len(samples) >= 3 and samples[-1] - samples[1] > 40:
            self.fail(MEMORY_BOUNDED, f"RSS grew from {samples[1]} to {samples[-1]} MiB since month 2")

    # -- one step at a time ----------------------------------------------------------------

    def guarded(self, action) -> bool:
        """Run `action` on the loop; a crash is a failure, then a restart. False if it crashed."""
        try:
            action()
            return True
        except Exception as error:
            self.fail(LOOP_ALIVE, f"{type(error).__name__}: {error}")
            self.report.crashes += 1
            self.world_now = self.boot.world_now
            self._forget_kept_in_memory()
            self.boot.kill()
            self.boot = Boot(self)
            self.check_log()
            return False

    def idle_until(self, world: float) -> None:
        boot = self.boot
        at = world - boot.world_at_zero
        if at <= boot.clock.now():
            return
        # Idle in steps: the card may get room back, the screen dims and goes off.
        while boot.clock.now() < at and boot is self.boot:
            target = min(at, boot.clock.now() + self.rng.uniform(1800, 4 * 3600))
            if not self.guarded(lambda: boot.run_until(target)):
                return
            self.after_step()

    def session(self, plan: SessionPlan) -> None:
        rng, boot = self.rng, self.boot
        app, pause_limit = boot.app, self.life_pause_limit
        if app.state != "idle" or app.sync_progress is not None:
            # Still showing a summary or a sync's result: the person waits for the idle screen.
            if not self.guarded(lambda: boot.run_until(boot.clock.now() + 40)):
                return
            self.after_step()
            if self.boot is not boot or app.state != "idle":
                return
        now = boot.clock.now()
        # In idle first, now and then: another routine, another intensity; and a press to
        # wake a screen that went off (a press on a dark screen only wakes it).
        for gesture, chance in (("double", 0.25), ("hold", 0.1)):
            if rng.random() < chance:
                if not self._gesture(now + rng.uniform(0.5, 3), gesture):
                    return
                now = boot.clock.now()
        if app.brightness == "off" and not self._gesture(now + 0.5, "press"):
            return
        if not self._gesture(boot.clock.now() + rng.uniform(0.5, 2), "press"):
            return
        step = 0
        while self.boot is boot and app.state in ("running", "paused"):
            step += 1
            if step == plan.kill_at_step:
                self.kill()
                return
            if step == plan.sync_at_step:
                self.sync(plan.sync_cut)
            error = (plan.panel_error(errno.EREMOTEIO, "Remote I/O error") if plan.panel_error is OSError
                     else plan.panel_error("bus"))
            if plan.panel == "flaky" and step == 1:
                boot.bus.fail_now_and_then(0.01, boot.bus_rng, error)
                self.report.panel_outages += 1
            elif plan.panel == "out" and step == 1:
                boot.bus.fail_with(error, after=rng.randint(0, 30))
                self.report.panel_outages += 1
            elif plan.panel == "out" and step == 8:
                boot.bus.recover()
            now = boot.clock.now()
            pacer = app.pacer
            if app.state == "running":
                # At a zone change (where the cues play), or at a random moment.
                at = (pacer.zone_ends_at + rng.uniform(-0.3, 0.3) if rng.random() < 0.4
                      else now + rng.uniform(1, 90))
                at = max(at, now + 0.01)
                gesture = rng.choices(["press", "double", "hold", None], weights=[12, 15, 3, 70])[0]
            else:
                gesture = rng.choices(["press", "double", "hold", None], weights=[70, 15, 5, 10])[0]
                at = now + (pause_limit + 5 if gesture is None else rng.uniform(2, 120))
            if gesture is None:
                if not self.guarded(lambda: boot.run_until(at)):
                    return
                self.after_step()
            elif not self._gesture(at, gesture):
                return
        if self.boot is boot and plan.kill_at_step is not None:
            self.kill()    # the session ended first: killed in its summary
            return
        if self.boot is boot:
            boot.bus.recover()
            if app.state == "summary" and rng.random() < 0.5:
                self._gesture(boot.clock.now() + rng.uniform(1, 25), "press")

    @property
    def life_pause_limit(self) -> float:
        return float(self.config.timeouts.pause_limit)

    def _gesture(self, at: float, gesture: str) -> bool:
        boot = self.boot
        done = boot.gesture(at, gesture)
        ok = self.guarded(lambda: boot.run_until(done))
        self.after_step()
        return ok

    def sync(self, cut: int | None) -> None:
        """The person plugs in the cable and runs `facepace sync`; a cut pulls it mid-way."""
        boot = self.boot
        self.world_now = boot.world_now
        self.link.set_faults(Faults(cut_after=cut))
        self.report.syncs += 1
        self.report.syncs_cut += cut is not None
        if not boot.server.serving.wait(10):
            self.fail(HOST_EQUALS_DEVICE, "the device's sync port did not open")
            return
        ok = True
        try:
            with HostDb.open(self.host_db) as db:
                port = open_device(self.link.host_port, timeout=SYNC_TIMEOUT)
                try:
                    host_sync(port, db, timeout=SYNC_TIMEOUT, utc=lambda: boot.world_now)
                finally:
                    port.close()
        except SyncError as error:
            ok = False
            if cut is None:
                self.fail(HOST_EQUALS_DEVICE, f"a sync without faults failed: {error}")
        finally:
            self.link.set_faults(Faults())
        self.step += 1
        if ok:
            self.check_host()
            if self.wrong_clock_boot == boot.log.boot_id:
                self.report.date_fix_checks += 1
                self.check_dates_fixed(boot)
        self.check_log()

    def _forget_kept_in_memory(self) -> None:
        """The process dies with sessions only in memory (the card is full): they are gone, as
        on the device. Counted, and not looked for in the log."""
        log = self.boot.log
        if not log.has_unsaved:
            return
        connection = logdb.connect(self.state_dir / "sessions.db", read_only=True)
        try:
            in_file = {(r.boot_id, r.mono_start) for r in logdb.read_sessions(connection)}
        finally:
            connection.close()
        for session in self.expected:
            if (session.outcome != "lost" and session.boot_id == log.boot_id
                    and (session.boot_id, session.mono_start) not in in_file):
                session.outcome = "lost"
                self.report.sessions_lost += 1

    def kill(self) -> None:
        self.report.kills += 1
        self._forget_kept_in_memory()
        self.world_now = self.boot.world_now
        self.boot.kill()
        self.boot = Boot(self)
        self.step += 1
        self.check_log()

    def restart(self, *, clock_behind: float) -> None:
        self.report.restarts += 1
        self.world_now = self.boot.world_now
        self.guarded(self.boot.stop)
        self.world_now += self.plan_rng.uniform(20, 90)     # the Pi boots
        self.boot = Boot(self, clock_behind=clock_behind)
        if clock_behind:
            self.wrong_clock_boot = self.boot.log.boot_id
        self.step += 1
        self.check_log()

    def _last_sync(self) -> None:
        """A year's last word: room on the card, a clean sync, and the host holds everything."""
        self.card.set_full(False)
        self.guarded(lambda: self.boot.run_until(self.boot.clock.now() + 3600))
        self.boot.log.flush()
        self.sync(None)

    # -- the invariants --------------------------------------------------------------------

    def fail(self, invariant: str, message: str) -> None:
        report = self.report
        report.failure_counts[invariant] += 1
        if report.failure_counts[invariant] <= 3 and len(report.failures) < self.MAX_FAILURES_KEPT:
            failure = Failure(invariant, self.seed, self.day, self.step, message)
            report.failures.append(failure)
            print(f"year drill: {failure}", file=__import__("sys").stderr, flush=True)

    def after_step(self) -> None:
        self.step += 1
        boot = self.boot
        app = boot.app
        self.report.checks += 1
        self.report.steps_on_a_full_card += self.card.full and boot.log.has_unsaved
        if not app.haptics.busy and boot.motor.pin.state != 0:
            self.fail(MOTOR_OFF, f"motor at {boot.motor.pin.state} in {app.state} with no pattern playing")
        if app.state == "paused" and not app.haptics.busy and boot.motor.duty != 0:
            self.fail(MOTOR_OFF, "motor on while paused")
        if app.state == "summary" or boot.session is None and app.state == "idle":
            # The mock pin and the fake bus keep every change and command they ever saw; the real
            # parts do not (left alone, they are most of what grows in a year, not the device).
            boot.motor.pin.clear_states()
            boot.bus.reset_counters()
        if app.state == "idle":
            self.check_idle(boot)
        if app.state in ("summary", "idle"):
            self.check_log()

    def check_idle(self, boot: Boot) -> None:
        log = boot.log
        if self.card.full:
            return
        if log.has_unsaved:
            if self.room_since is not None and boot.world_now - self.room_since > UNSAVED_GRACE:
                self.fail(WRITTEN_WHEN_ROOM, f"sessions still only in memory "
                                             f"{(boot.world_now - self.room_since) / 3600:.1f} h after the card had room")
            return   # `facepace stats` reads the file; the screen also counts what is kept in memory
        view = boot.app.view(boot.clock.now())
        if not isinstance(view, IdleView):
            return
        self.report.checks += 1
        now_wall = boot.wall.time()
        # What `facepace stats` computes (device.cli.log.run_stats), from the file.
        from device.cli.log import load
        sessions = [record for record, _ in load(db_path=self.state_dir / "sessions.db")]
        progress = goals.progress(goals.from_records(sessions), now_wall, goals.rules_from(Config().goal))
        this_week = history.weekly(sessions, now_wall, weeks=1)[0]
        shown = (view.week_done, view.streak_weeks, round(view.minutes_this_week, 2))
        wanted = (progress.this_week.days_done, progress.streak_weeks, round(this_week.minutes, 2))
        if shown != wanted:
            self.fail(IDLE_EQUALS_STATS, f"idle screen shows {shown[0]} days this week, streak {shown[1]} weeks,"
                                         f" {shown[2]} min this week; stats says {wanted[0]}, {wanted[1]}, {wanted[2]}")

    def check_log(self) -> None:
        """Every session the device showed is in the log once, as it ended, with every zone."""
        self.report.checks += 1
        log = self.boot.log
        connection = logdb.connect(self.state_dir / "sessions.db", read_only=True)
        try:
            in_file = logdb.read_sessions(connection)
        finally:
            connection.close()
        if len(in_file) != len({r.id for r in in_file}):
            self.fail(LOGGED_ONCE, "a session id twice in the file")
        # The file, and what the running log keeps in memory while the card is full. A session
        # kept in memory is newer than the file's copy of it: a full card can take a session's
        # start and then refuse its zones and finish, which the log keeps (and writes when there
        # is room: WRITTEN_WHEN_ROOM's part) while the file still says it is under way.
        newest = {record.id: record for record in in_file}
        if log.has_unsaved:
            newest.update((s.id, s) for s in log.sessions())
        by_key = defaultdict(list)
        for record in newest.values():
            by_key[(record.boot_id, record.mono_start)].append(record)
        for session in self.expected:
            if session.outcome in (None, "lost"):
                continue
            records = by_key.get((session.boot_id, session.mono_start), [])
            if len(records) != 1:
                self.fail(LOGGED_ONCE, f"{session.routine} of {describe_world(session.world_start)}"
                                       f" ({session.outcome}) is in the log {len(records)} times")
                continue
            record = records[0]
            problems = []
            if record.outcome != session.outcome:
                problems.append(f"outcome {record.outcome}, shown {session.outcome}")
            if len(record.zones) != session.zone_count:
                problems.append(f"{len(record.zones)} zones of {session.zone_count}")
            if session.outcome != "interrupted":
                done, skipped = history.zones_done_and_skipped(record.zones)
                if (done, skipped) != (session.zones_done, session.zones_skipped):
                    problems.append(f"zones done/skipped {done}/{skipped}, the summary showed"
                                    f" {session.zones_done}/{session.zones_skipped}")
                if abs(record.active_seconds - session.active_seconds) > 1e-6:
                    problems.append(f"active {record.active_seconds}, the summary showed {session.active_seconds}")
            if problems:
                self.fail(LOGGED_ONCE, f"{session.routine} of {describe_world(session.world_start)}: "
                                       + "; ".join(problems))
        expected_keys = {(s.boot_id, s.mono_start) for s in self.expected if s.outcome != "lost"}
        strays = [key for key in by_key if key not in expected_keys]
        if strays:
            self.fail(LOGGED_ONCE, f"{len(strays)} sessions in the log that the device never showed")

    def check_host(self) -> None:
        """The host, after a sync that finished, holds exactly the device's finished sessions."""
        self.report.checks += 1
        connection = logdb.connect(self.state_dir / "sessions.db", read_only=True)
        try:
            device = {s.id: s.as_dict() for s in logdb.read_sessions(connection) if s.outcome}
        finally:
            connection.close()
        with HostDb.open(self.host_db) as db:
            host = {record.id: record.as_dict() for record, _ in db.sessions()}
        if host != device:
            missing = device.keys() - host.keys()
            extra = host.keys() - device.keys()
            differ = [i for i in device.keys() & host.keys() if device[i] != host[i]]
            fields = sorted({k for i in differ for k in device[i] if device[i][k] != host[i].get(k)})
            self.fail(HOST_EQUALS_DEVICE, f"{len(missing)} missing on the host, {len(extra)} extra,"
                                          f" {len(differ)} differ (in {', '.join(fields) or '-'})")

    def check_dates_fixed(self, boot: Boot) -> None:
        """After a sync, the wrong clock's sessions are trusted and dated to the world's time."""
        self.report.checks += 1
        ours = {s.mono_start: s for s in self.expected if s.boot_id == boot.log.boot_id and s.outcome}
        wrong = []
        for record in boot.log.sessions():
            session = ours.get(record.mono_start)
            if record.boot_id == boot.log.boot_id and session is not None:
                if not record.wall_trusted or abs(record.wall_start - session.world_start) > 1e-3:
                    wrong.append(record)
        if wrong:
            self.fail(DATES_FIXED, f"{len(wrong)} of {len(ours)} sessions still misdated after a sync")
        else:
            self.wrong_clock_boot = None


def describe_world(world: float) -> str:
    return datetime.fromtimestamp(world).strftime("%Y-%m-%d %H:%M")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def live(seed: int, days: int, folder: Path) -> Report:
    return Life(seed, days, folder).run()
