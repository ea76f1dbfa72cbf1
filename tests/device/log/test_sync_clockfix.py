"""Date fixes at a sync: start and end each dated from their own monotonic time."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from device.log import logdb
from device.log.sessionlog import SessionLog, ZoneProgress
from device.log.clockfix import HostWallClock
from device.sync.source import ClockAnswer, SyncSource
from tests.support.card import Card

BOOT_ID = "0b7f7a0e-1111-4222-8333-444455556666"
BOOTED = 1_717_000_000.0   # the real time at monotonic 0 of this boot
WRONG = 978_307_200.0      # what a Pi without a clock believed at monotonic 0 (2001)
PLAN = [("neck", 60.0), ("jaw", 45.0)]


def to_the_ms(expected):
    # pytest.approx's default relative tolerance is half an hour on a Unix time.
    return pytest.approx(expected, rel=0, abs=1e-3)


class Device:
    """A session log and a sync source sharing one boot's monotonic clock and wall clock."""

    def __init__(self, tmp_path: Path) -> None:
        self.mono = 1000.0
        self.clock_step = 0.0                # the untrusted clock may be stepped, too
        self.synced = False                  # whether NTP has disciplined the system clock
        self.boot_id_path = tmp_path / "boot_id"
        self.boot_id_path.write_text(BOOT_ID + "\n")
        self.wall = HostWallClock(system_time=lambda: WRONG + self.mono + self.clock_step)
        self.path = tmp_path / "state" / "sessions.db"
        self.card = Card()
        self.log = self.open_log()

    def open_log(self) -> SessionLog:
        return SessionLog.open(self.path, boot_id_path=self.boot_id_path, wall_time=self.wall.time,
                               clock_synced=lambda: self.synced, connect=self.card.connect)

    def begin(self) -> str:
        return self.log.begin("daily", "h", 3, PLAN, mono_start=self.mono, wall_start=self.wall.time())

    def finish(self, sid: str) -> None:
        zones = [ZoneProgress(zone, planned, planned) for zone, planned in PLAN]
        self.log.finish(sid, "completed", zones, 105.0, wall_end=self.wall.time(), mono_end=self.mono)

    def sync(self) -> tuple[int, int, float]:
        """What SET_CLOCK does, with the host's clock right: (fixed, estimated, offset)."""
        answer = self.set_clock(BOOTED + self.mono)
        assert answer.refused is None
        return answer.fixed, answer.estimated, answer.offset

    def set_clock(self, host_utc: float) -> ClockAnswer:
        with SyncSource(self.log, wall_clock=self.wall, monotonic=lambda: self.mono) as source:
            return source.set_clock(host_utc)

    def session(self, *, minutes: float = 2.0) -> str:
        sid = self.begin()
        self.mono += minutes * 60
        self.finish(sid)
        return sid

    def stored(self, sid: str) -> tuple:
        return self._row("SELECT wall_start, wall_end, wall_checkpoint, wall_trusted FROM sessions"
                         " WHERE id = ?", sid)

    def fix(self, sid: str) -> tuple | None:
        return self._row("SELECT wall_start_before, shift, end_shift FROM sync_date_fixes"
                         " WHERE session_id = ?", sid)

    def _row(self, sql: str, sid: str) -> tuple | None:
        db = logdb.connect(self.path, read_only=True)
        try:
            return db.execute(sql, (sid,)).fetchone()
        finally:
            db.close()


@pytest.fixture
def device(tmp_path):
    device = Device(tmp_path)
    yield device
    device.log.close()


def test_a_session_that_spans_a_sync_keeps_its_right_end(device):
    sid = device.begin()                     # untrusted: the clock says 2001
    device.mono = 1100.0
    assert device.sync()[:2] == (0, 0)       # still open: left alone
    device.mono = 1200.0
    device.finish(sid)                       # the end is dated by the host-set clock: right
    assert device.stored(sid)[1] == to_the_ms(BOOTED + 1200)
    device.mono = 1300.0
    assert device.sync()[:2] == (1, 0)
    assert device.stored(sid) == to_the_ms((BOOTED + 1000, BOOTED + 1200, BOOTED + 1200, 1))
    assert device.fix(sid) == to_the_ms((WRONG + 1000, BOOTED - WRONG, 0.0))


def test_start_and_end_are_each_dated_from_their_own_monotonic_time(device):
    sid = device.begin()
    device.mono = 1180.0
    device.clock_step = 20.0                 # the untrusted clock stepped during the session
    device.finish(sid)
    assert device.stored(sid)[:2] == to_the_ms((WRONG + 1000, WRONG + 1200))
    device.mono = 5000.0
    assert device.sync()[:2] == (1, 0)
    assert device.stored(sid) == to_the_ms((BOOTED + 1000, BOOTED + 1180, BOOTED + 1180, 1))


def test_an_interrupted_session_ends_at_its_last_checkpoint(device, tmp_path):
    sid = device.begin()
    device.mono = 1060.0
    device.log.checkpoint(sid, [ZoneProgress("neck", 60.0, 60.0), ZoneProgress("jaw", 45.0)], 60.0,
                          mono_now=device.mono)
    device.card.die()                        # the program dies; the boot goes on
    device.log = SessionLog.open(device.path, boot_id_path=tmp_path / "boot_id",
                                 wall_time=device.wall.time, clock_synced=lambda: False)
    (session,) = device.log.sessions()
    assert (session.outcome, session.mono_end) == ("interrupted", 1060.0)
    device.mono = 1500.0
    assert device.sync()[:2] == (1, 0)
    assert device.stored(sid) == to_the_ms((BOOTED + 1000, BOOTED + 1060, BOOTED + 1060, 1))


def test_a_session_without_a_monotonic_end_keeps_its_duration(device):
    sid = device.begin()
    device.mono = 1150.0
    device.finish(sid)
    writer = logdb.connect(device.path)
    writer.execute("UPDATE sessions SET mono_end = NULL")   # recorded before schema version 3
    writer.close()
    device.mono = 2000.0
    assert device.sync()[:2] == (1, 0)
    assert device.stored(sid) == to_the_ms((BOOTED + 1000, BOOTED + 1150, BOOTED + 1150, 1))
    shift = BOOTED - WRONG
    assert device.fix(sid) == to_the_ms((WRONG + 1000, shift, shift))


def test_monotonic_times_this_boot_has_not_reached_are_not_used(device):
    sid = device.begin()
    device.mono = 1150.0
    device.finish(sid)
    device.mono = 1100.0                     # the session's times come from another clock
    assert device.sync()[:2] == (0, 1)
    assert device.stored(sid)[:2] == to_the_ms((WRONG + 1000, WRONG + 1150))
    assert device.fix(sid) is None


def test_a_date_fix_and_a_recorder_write_wait_for_each_other(device, monkeypatch):
    """In the firmware the sync thread and the recorder's worker share one SessionLog. A
    recorder write during a date fix must wait for it, not fail as "Log error: kept"."""
    from device.log import clockfix

    finished = device.begin()
    device.mono = 1150.0
    device.finish(finished)
    running = device.begin()
    progress = [ZoneProgress("neck", 60.0, 60.0), ZoneProgress("jaw", 45.0)]
    recorder = threading.Thread(target=device.log.checkpoint, args=(running, progress, 60.0),
                                kwargs={"mono_now": 1210.0})
    real_fix = clockfix.fix_dates

    def fix_while_the_recorder_writes(db, **options):
        counts = real_fix(db, **options)
        recorder.start()
        # Without the log's lock the recorder's write gave up here after its busy timeout.
        recorder.join(timeout=1.0)
        return counts

    monkeypatch.setattr(clockfix, "fix_dates", fix_while_the_recorder_writes)
    device.mono = 1300.0
    assert device.sync()[:2] == (1, 0)
    recorder.join()
    assert device.log.take_notices() == [] and not device.log.has_unsaved
    assert device.stored(finished)[0] == to_the_ms(BOOTED + 1000)
    (stored,) = [s for s in device.log.sessions() if s.id == running]
    assert stored.zones == tuple(progress) and stored.mono_end == 1210.0


# --- Issue 10: a host's time is believed only if it is plausible ---------------------------

YEAR = 365.25 * 86400


def test_a_time_far_ahead_of_anything_the_device_knows_is_refused_and_dates_nothing(device):
    """SET_CLOCK 4102444800 (2100) was taken: new sessions were dated 2100 and trusted."""
    before = device.session()
    answer = device.set_clock(4_102_444_800.0)
    assert (answer.fixed, answer.estimated, answer.offset) == (0, 1, 0.0)
    assert "2100-01-01 00:00 UTC" in answer.refused and "more than 10 years after" in answer.refused
    assert device.wall.offset == 0.0 and not device.wall.set_by_host
    after = device.session()
    assert device.stored(before)[3] == 0 and device.stored(after)[3] == 0   # still untrusted
    assert device.sync()[:2] == (2, 0)                                     # an honest host dates both
    assert device.stored(after)[:2] == to_the_ms((BOOTED + device.mono - 120, BOOTED + device.mono))


def test_a_time_before_the_newest_session_the_synchronised_clock_dated_is_refused(device):
    device.synced = True                   # NTP had the time right for this one
    device.wall = HostWallClock(system_time=lambda: BOOTED + device.mono)
    device.log.close()
    device.log = device.open_log()
    device.session()
    ended = BOOTED + device.mono
    answer = device.set_clock(ended - 3600)   # a computer an hour slow
    assert "before the device's last session" in answer.refused
    assert device.set_clock(ended - 60).refused is None   # a minute slow is a clock, not a lie


def test_a_later_sync_redates_what_a_plausible_but_wrong_time_dated_this_boot(device):
    """A hostile in-range time dated sessions for good: they were marked trusted, and a later
    honest SET_CLOCK left them. Now they are the host's dates, and the next host puts them right."""
    untrusted = device.session()
    wrong = BOOTED + device.mono + 3 * YEAR     # plausible: a device may lie unused for years
    assert device.set_clock(wrong).fixed == 1   # believed, and it dates what was untrusted
    during = device.session()                   # recorded while the wrong time was in use
    assert device.stored(during)[0] == to_the_ms(wrong)
    assert device.stored(during)[3] == 1        # the host's date: trusted, as a host's
    assert device.fix(during) == to_the_ms((wrong, 0.0, 0.0))

    device.mono += 600
    fixed, estimated, _ = device.sync()         # the honest host, later in the same boot
    assert (fixed, estimated) == (2, 0)
    assert device.stored(untrusted) == to_the_ms((BOOTED + 1000, BOOTED + 1120, BOOTED + 1120, 1))
    assert device.stored(during)[:2] == to_the_ms((BOOTED + 1120, BOOTED + 1240))
    # The fix keeps what the session's own clock said, and adds up the shifts.
    assert device.fix(during) == to_the_ms((wrong, -3 * YEAR, -3 * YEAR))
    with SyncSource(device.log, wall_clock=device.wall, monotonic=lambda: device.mono) as source:
        batch, _ = source.batch_after(0, max_sessions=10, max_bytes=60_000)
    assert [json.loads(row)[15] for row in batch] == ["host", "host"]


def test_an_honest_host_after_another_leaves_their_dates_alone(device):
    device.sync()
    sid = device.session()
    dated = device.stored(sid)
    device.mono += 60
    device.clock_step = 0.4                 # the system clock drifted a little meanwhile
    assert device.set_clock(BOOTED + device.mono + 0.5).fixed == 0
    assert device.stored(sid) == dated


def test_a_restarted_firmware_does_not_trust_a_time_it_no_longer_has(device):
    """The host's time lives in memory (the services may not set the system clock): after a
    restart in the same boot that gets no correction back (the sync service restarted too),
    new sessions are untrusted until the next sync."""
    device.sync()
    assert device.stored(device.session())[3] == 1
    device.log.close()
    device.wall = HostWallClock(system_time=lambda: WRONG + device.mono)   # the offset is gone
    device.log = device.open_log()
    assert device.stored(device.session())[3] == 0


def test_the_weekly_goal_follows_sessions_a_sync_re_dated(tmp_path):
    """After a sync the firmware reads only this week of the goal again, unless the sync moved
    a date (issue 12: a whole read of a long log costs the pacing its CPU). Here it did: a clock
    four days slow dated a session on Saturday of last week; the host's time moves it to this
    Wednesday, where the device's own "today" already was: without the whole read the goal
    would count both days."""
    from datetime import date, timezone

    from device.log import goals
    from device.log.recording import SessionRecorder

    device = Device(tmp_path)
    device.clock_step = (BOOTED - 4 * 86_400) - WRONG     # the device's clock: four days slow
    rules = goals.GoalRules(weekly_goal=2, tz=timezone.utc)
    recorder = SessionRecorder(device.log, wall_time=device.wall.time, threaded=False, rules=rules)
    sid = device.begin()                                  # really Wed 29 May 2024; said Sat 25
    device.mono += 400.0
    device.finish(sid)
    device.mono += 2 * 86_400                             # really Friday; the device says Monday
    recorder.refresh_overview()                           # no sync yet: nothing moved
    assert recorder.goal.counted == {date(2024, 5, 25)}
    assert device.sync()[0] == 1
    recorder.refresh_overview()
    whole = SessionRecorder(device.log, wall_time=device.wall.time, threaded=False, rules=rules)
    assert recorder.goal.counted == whole.goal.counted == {date(2024, 5, 29)}
    assert recorder.goal_now() == whole.goal_now()
