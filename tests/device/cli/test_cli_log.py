"""`facepace log` and `facepace stats`, through the real command line (device.cli.main.main)."""

from __future__ import annotations

import csv
import sqlite3
import dataclasses
import io
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from device.cli import main as cli
from device.cli import log as cli_log
from device.log import session_columns
from device.log.sessionlog import SessionLog, SessionRecord, ZoneProgress

# Wall times in UTC; the tests run with TZ=UTC so "local" output is predictable.
MAY_6 = datetime.fromisoformat("2024-05-06T08:00:00+00:00").timestamp()   # a Monday
DAY = 86400.0


@pytest.fixture
def state(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("FACEPACE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield tmp_path / "state"
    monkeypatch.undo()
    time.tzset()


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def record(log: SessionLog, routine: str, start: float, outcome: str = "completed",
           done=(60.0, 45.0), skipped=(False, False)) -> str:
    plan = [("neck", 60.0), ("jaw", 45.0)]
    sid = log.begin(routine, f"hash-{routine}", 3, plan, mono_start=1.0, wall_start=start)
    zones = [ZoneProgress(z, p, d, s) for (z, p), d, s in zip(plan, done, skipped)]
    log.finish(sid, outcome, zones, active_seconds=sum(done), wall_end=start + sum(done) + 5,
               mono_end=1.0 + sum(done) + 5)
    return sid


@pytest.fixture
def three_sessions(state: Path, tmp_path: Path) -> list[str]:
    boot = tmp_path / "boot_id"
    boot.write_text("boot-1")
    with SessionLog.open(state / "sessions.db", boot_id_path=boot, clock_synced=lambda: True) as log:
        return [record(log, "daily", MAY_6),
                record(log, "quick", MAY_6 + DAY, "ended_early", done=(60.0, 10.0), skipped=(False, True)),
                record(log, "evening", MAY_6 + 2 * DAY)]


def test_log_prints_a_table_newest_first(three_sessions, capsys):
    code, out, _ = run(["log"], capsys)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["Started", "Routine", "Active", "Zones", "Int", "Outcome"]
    assert [line.split()[2] for line in lines[1:]] == ["evening", "quick", "daily"]
    assert lines[1].startswith("2024-05-08 08:00 ")
    assert "1:10" in lines[2] and "1/2 1 skip" in lines[2] and lines[2].endswith("ended_early")


def test_log_json_has_every_field_with_zones(three_sessions, capsys):
    code, out, _ = run(["log", "--json"], capsys)
    sessions = json.loads(out)
    assert code == 0 and [s["id"] for s in sessions] == three_sessions[::-1]
    newest = sessions[0]
    assert set(newest) == {"id", "seq", "device_id", "routine_name", "routine_hash", "intensity",
                           "wall_start", "wall_end", "wall_checkpoint", "wall_trusted", "boot_id",
                           "mono_start", "mono_end",
                           "active_seconds", "outcome", "zones", "start_local", "end_local",
                           "date_quality"}
    assert newest["start_local"] == "2024-05-08T08:00:00+00:00" and newest["date_quality"] == "clock"
    assert (newest["boot_id"], newest["wall_trusted"], newest["seq"]) == ("boot-1", True, 3)
    assert sessions[1]["zones"] == [
        {"zone_id": "neck", "planned_seconds": 60.0, "done_seconds": 60.0, "skipped": False},
        {"zone_id": "jaw", "planned_seconds": 45.0, "done_seconds": 10.0, "skipped": True}]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/St_Johns", "UTC"])
def test_json_built_by_sqlite_matches_the_records(state, tmp_path, monkeypatch, zone):
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    path = state / "sessions.db"
    trusted = iter([True, False, False, True])
    with SessionLog.open(path, boot_id_path=tmp_path / "none", wall_time=lambda: MAY_6 + 1.5,
                         clock_synced=lambda: next(trusted)) as log:
        record(log, "daily", MAY_6 - 120 * DAY, done=(12.25, 0.0), skipped=(False, True))
        fixed = record(log, "quick", MAY_6 + 0.5)
        record(log, "evening", MAY_6 + 0.7)
        log.begin("open", "h", 5, [("neck", 60.0)], mono_start=2.5, wall_start=MAY_6 + DAY)
    mark_fixed_at_sync(path, fixed)
    connection = sqlite3.connect(path)
    rows = list(session_columns.read_device_rows(connection))
    connection.close()
    from_sqlite = [json.loads(text) for text in cli_log.load(as_json=True, db_path=path)]
    assert from_sqlite == [session_columns.session_fields(row) for row in rows]
    assert [s["date_quality"] for s in from_sqlite] == ["clock", "estimated", "host", "clock"]
    summer, winter = {"Europe/Berlin": ("+02:00", "+01:00"), "America/St_Johns": ("-02:30", "-03:30"),
                      "UTC": ("+00:00", "+00:00")}[zone]
    assert from_sqlite[0]["start_local"].endswith(summer) and from_sqlite[0]["end_local"] is None
    assert from_sqlite[-1]["start_local"].endswith(winter)


def mark_fixed_at_sync(path: Path, session_id: str) -> None:
    """As device.log.clockfix records a date it fixed."""
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO sync_date_fixes (session_id, wall_start_before, shift, fixed_wall,"
                   " end_shift) VALUES (?, 0, 0, 0, 0)", (session_id,))
    db.close()


def test_log_csv_has_one_row_per_zone(three_sessions, capsys):
    code, out, _ = run(["log", "--csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 6
    assert list(rows[0]) == [*session_columns.SESSION_COLUMNS, *session_columns.ZONE_COLUMNS]
    assert {r["date_quality"] for r in rows} == {"clock"}
    quick = [r for r in rows if r["routine_name"] == "quick"]
    assert [(r["zone_id"], r["zone_done_seconds"], r["zone_skipped"]) for r in quick] == [
        ("neck", "60.0", "False"), ("jaw", "10.0", "True")]
    assert quick[0]["outcome"] == "ended_early" and quick[0]["routine_hash"] == "hash-quick"


def record_fields() -> set[str]:
    """Every field of a stored session, from the record's own definition."""
    return {f.name for f in dataclasses.fields(SessionRecord)} - {"zones"}


def test_json_and_csv_carry_every_field_of_the_record(three_sessions, capsys):
    local_times = {"start_local", "end_local", "date_quality"}
    _, out, _ = run(["log", "--json"], capsys)
    (newest, *_) = json.loads(out)
    assert set(newest) == record_fields() | local_times | {"zones"}
    assert set(newest["zones"][0]) == set(ZoneProgress._fields)
    _, out, _ = run(["log", "--csv"], capsys)
    (header, first, *_) = list(csv.reader(io.StringIO(out)))
    assert set(header) == record_fields() | local_times | {
        "zone_position", *(f"zone_{name}" if not name.startswith("zone_") else name
                           for name in ZoneProgress._fields)}
    row = dict(zip(header, first))
    assert (row["mono_start"], row["mono_end"]) == ("1.0", str(1.0 + 60 + 45 + 5))


def test_since_and_limit_choose_sessions(three_sessions, capsys):
    _, out, _ = run(["log", "--json", "--since", "2024-05-07"], capsys)
    assert [s["routine_name"] for s in json.loads(out)] == ["evening", "quick"]
    _, out, _ = run(["log", "--json", "--limit", "1"], capsys)
    assert [s["routine_name"] for s in json.loads(out)] == ["evening"]
    _, out, _ = run(["log", "--json", "--since", "2024-05-09"], capsys)
    assert json.loads(out) == []


@pytest.mark.parametrize("argv, message", [
    (["log", "--since", "yesterday"], "expected a date like 2024-03-31, got 'yesterday'"),
    (["log", "--limit", "0"], "expected a whole number of at least 1, got '0'"),
    (["log", "--json", "--csv"], "not allowed with argument"),
])
def test_bad_options_say_what_is_expected(argv, message, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2 and message in err


def test_no_log_yet_prints_a_line_and_creates_nothing(state, capsys):
    assert run(["log"], capsys)[:2] == (0, "No sessions yet.\n")
    assert run(["log", "--json"], capsys)[1] == "[]\n"
    assert not state.exists()


def test_reading_does_not_close_a_session_that_is_still_running(state, tmp_path, capsys):
    log = SessionLog.open(state / "sessions.db", boot_id_path=tmp_path / "none")
    sid = log.begin("daily", "h", 3, [("neck", 60.0)], mono_start=0.0, wall_start=MAY_6)
    code, out, _ = run(["log", "--json"], capsys)
    assert code == 0 and [(s["id"], s["outcome"]) for s in json.loads(out)] == [(sid, None)]
    assert run(["log"], capsys)[1].splitlines()[1].endswith("open")
    log.finish(sid, "completed", [ZoneProgress("neck", 60.0, 60.0)], 60.0, MAY_6 + 60, mono_end=60.0)
    log.close()


def test_a_damaged_log_is_reported_and_left_for_the_device_to_repair(state, capsys):
    state.mkdir(parents=True)
    (state / "sessions.db").write_bytes(b"garbage" * 1000)
    code, out, err = run(["log"], capsys)
    assert code == 1 and out == ""
    assert err.startswith(f"{state / 'sessions.db'}: cannot ") and "repairs it" in err
    assert err.count("\n") == 1
    assert (state / "sessions.db").read_bytes() == b"garbage" * 1000


def test_stats_prints_streak_weeks_and_zones(three_sessions, capsys, monkeypatch):
    monkeypatch.setattr(cli_log.time, "time", lambda: MAY_6 + 2 * DAY + 3600)
    code, out, _ = run(["stats"], capsys)
    lines = out.splitlines()
    assert code == 0
    # Wednesday: 3 days done, Wed..Sun left: the goal of 5 can still be met.
    assert lines[0] == "This week: 3 of 5 days · no streak yet (goal 5 days a week)"
    assert lines[1] == "Streak: 0 weeks (longest 0 weeks)"
    assert lines[2] == "Sessions: 3"
    week_rows = lines[lines.index("Week of      Days  Goal  Sessions  Minutes") + 1:][:8]
    assert week_rows[0].split() == ["2024-03-18", "0", "5", "0", "0"]
    assert week_rows[-1].split() == ["2024-05-06", "3", "5", "3", "5"]   # 105 + 70 + 105 s = 4.7 min
    zones = lines[lines.index("Zone                 Time") + 1:]
    assert [z.split() for z in zones] == [["neck", "3:00"], ["jaw", "1:40"]]   # 180 s, 100 s


def test_stats_shows_short_zone_totals_and_leaves_out_zones_never_done(state, tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setattr(cli_log.time, "time", lambda: MAY_6 + 3600)
    plan = [("serum", 20.0), ("neck", 60.0), ("jaw", 45.0)]
    with SessionLog.open(state / "sessions.db", clock_synced=lambda: True) as log:
        sid = log.begin("daily", "h", 3, plan, mono_start=1.0, wall_start=MAY_6)
        log.finish(sid, "ended_early", [ZoneProgress("serum", 20.0, 20.0),
                                        ZoneProgress("neck", 60.0, 0.0, True),
                                        ZoneProgress("jaw", 45.0, 0.0)],
                   active_seconds=20.0, wall_end=MAY_6 + 25, mono_end=26.0)
    code, out, _ = run(["stats"], capsys)
    lines = out.splitlines()
    assert code == 0
    assert lines[lines.index("Zone                 Time") + 1:] == ["serum                0:20"]
    code, out, _ = run(["stats", "--json"], capsys)
    assert json.loads(out)["zones"] == [{"zone_id": "serum", "minutes": 0.33}]


def test_log_counts_zones_done_as_the_summary_screen_does(state, capsys):
    """A skip, then the session ended early mid-zone: the screen and the log agree."""
    from device.settings.config import Config
    from device.settings.routines import load_library
    from device.sim.simulator import Simulator

    sim = Simulator(Config(), list(load_library(None).routines), state_dir=state, routine_name="quick")
    try:
        # quick: collarbone 20 s, jawline 40 s, cheeks 40 s (skipped), under-eye 20 s,
        # forehead 30 s (ended early mid-way), drain 30 s (never reached).
        assert sim.run_headless([(1.0, "press"), (70.0, "double"), (100.0, "hold")]) == 0
        summary = sim.app.summary
    finally:
        sim.close()
    assert (summary.zones_done, summary.zones_skipped) == (3, 1)
    code, out, _ = run(["log"], capsys)
    assert code == 0
    row = out.splitlines()[1]
    assert " 3/6 1 skip " in row and row.endswith("ended_early")


def test_stats_json(three_sessions, capsys, monkeypatch):
    monkeypatch.setattr(cli_log.time, "time", lambda: MAY_6 + 6 * DAY)
    code, out, _ = run(["stats", "--json"], capsys)
    stats = json.loads(out)
    # Sunday, 3 days done: the goal of 5 can no longer be met this week.
    assert code == 0 and stats["streak_weeks"] == 0 and stats["longest_streak_weeks"] == 0
    assert (stats["weekly_goal"], stats["week_start"], stats["this_week_can_still_meet"]) == (5, "monday", False)
    assert len(stats["weeks"]) == 8 and stats["weeks"][-1] == {
        "week_start": "2024-05-06", "days": 3, "needed": 5, "rest_days": 0, "met": False,
        "sessions": 3, "minutes": 4.67}
    assert stats["zones"] == [{"zone_id": "neck", "minutes": 3.0}, {"zone_id": "jaw", "minutes": 1.67}]


def test_stats_on_an_empty_log(state, capsys):
    code, out, _ = run(["stats"], capsys)
    assert code == 0 and out.splitlines()[1] == "Streak: 0 weeks (longest 0 weeks)" and "(none yet)" in out


def test_an_estimated_date_is_marked_and_the_mark_explained_under_the_table(state, tmp_path, capsys):
    trusted = iter([True, False])
    with SessionLog.open(state / "sessions.db", boot_id_path=tmp_path / "none",
                         clock_synced=lambda: next(trusted)) as log:
        record(log, "daily", MAY_6)
        record(log, "quick", MAY_6 + DAY)
    code, out, _ = run(["log"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[1].startswith("2024-05-07 08:00?") and lines[2].startswith("2024-05-06 08:00 ")
    assert lines[3] == "" and " ".join(lines[4:]) == cli_log.ESTIMATED_NOTE
    assert cli_log.ESTIMATED_NOTE.startswith("? after a date: estimated.")
    assert run(["log", "--limit", "1"], capsys)[1].count("?") == 2   # the mark and the note


def test_stats_follow_the_goal_the_config_and_the_computer_set(three_sessions, tmp_path, capsys, monkeypatch):
    """[goal] weekly_goal = 3 in the config meets the week; the computer's goal of 4 (kept in the
    state folder) wins over it; a rest the computer set shrinks the week's goal."""
    from device.settings.owner import Owned
    from device.settings.ownerstore import OwnerStore

    monkeypatch.setattr(cli_log.time, "time", lambda: MAY_6 + 5 * DAY)
    config = tmp_path / "config.toml"
    config.write_text("[goal]\nweekly_goal = 3\n")
    code, out, _ = run(["stats", "--config", str(config)], capsys)
    assert code == 0 and out.splitlines()[:2] == [
        "This week: 3 of 3 days (met) · goal met 1 week in a row (goal 3 days a week)",
        "Streak: 1 week (longest 1 week)"]
    store = OwnerStore(tmp_path / "state" / "owner")
    store.save(Owned({"weekly_goal": 4}))
    code, out, _ = run(["stats", "--config", str(config)], capsys)
    assert out.splitlines()[1] == "Streak: 0 weeks (longest 0 weeks)"
    store.save(Owned({"weekly_goal": 4, "rest_periods": ["2024-05-10/2024-05-12"]}))   # Fri..Sun
    code, out, _ = run(["stats", "--json"], capsys)
    week = json.loads(out)["weeks"][-1]
    assert (week["needed"], week["rest_days"], week["met"]) == (2, 3, True)
