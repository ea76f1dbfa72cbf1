"""`facepace export --to DIR`: complete files under their real names, or the old ones."""

from __future__ import annotations

import csv
import json
import os

import pytest

from device.service import export
from device.log.sessionlog import SessionLog
from tests.support.sync_testing import ZONES, record_sessions


@pytest.fixture
def device_log(tmp_path):
    with SessionLog.open(tmp_path / "state" / "sessions.db", clock_synced=lambda: True) as log:
        record_sessions(log, 5)
        yield log


def test_export_writes_csv_jsonl_and_report(tmp_path, device_log):
    drive = tmp_path / "drive"
    drive.mkdir()
    done = export.export_log(device_log.path, drive)
    folder = drive / "facepace" / device_log.device_id
    assert done.folder == folder and done.sessions == 5
    assert sorted(p.name for p in folder.iterdir()) == ["report.png", "sessions.csv", "sessions.jsonl"]
    lines = [json.loads(line) for line in (folder / "sessions.jsonl").read_text().splitlines()]
    assert {item["id"] for item in lines} == {s.id for s in device_log.sessions()}
    assert all(len(item["zones"]) == len(ZONES) for item in lines)
    rows = list(csv.DictReader((folder / "sessions.csv").open()))
    assert len(rows) == 5 * len(ZONES)
    assert (folder / "report.png").read_bytes().startswith(b"\x89PNG")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, device_log, monkeypatch):
    drive = tmp_path / "drive"
    drive.mkdir()
    export.export_log(device_log.path, drive)
    folder = drive / "facepace" / device_log.device_id
    before = (folder / "sessions.csv").read_bytes()
    record_sessions(device_log, 2, first_wall=1_800_000_000.0, seed=3)

    def pulled_out(descriptor):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", pulled_out)
    with pytest.raises(export.ExportError, match="Input/output error") as caught:
        export.export_log(device_log.path, drive)
    assert caught.value.file == folder
    assert (folder / "sessions.csv").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["report.png", "sessions.csv", "sessions.jsonl"]


def test_every_file_is_fsynced_before_its_rename(tmp_path, device_log, monkeypatch):
    drive = tmp_path / "drive"
    drive.mkdir()
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(f"rename {os.path.basename(b)}"),
                                                     real_replace(a, b))[1])
    export.export_log(device_log.path, drive)
    assert events == ["fsync", "rename sessions.csv", "fsync",
                      "fsync", "rename sessions.jsonl", "fsync",
                      "fsync", "rename report.png", "fsync"]


def test_clear_errors(tmp_path):
    with pytest.raises(export.ExportError, match="not a folder") as caught:
        export.export_log(tmp_path / "sessions.db", tmp_path / "missing")
    assert caught.value.file == tmp_path / "missing"
    with pytest.raises(export.ExportError, match="no session log") as caught:
        export.export_log(tmp_path / "sessions.db", tmp_path)
    assert caught.value.file == tmp_path / "sessions.db"


def test_export_has_the_same_columns_as_history_and_says_how_sure_each_date_is(tmp_path, device_log):
    """One definition of the columns: the drive's files carry what `history --csv/--json` do."""
    from device.log import session_columns

    drive = tmp_path / "drive"
    drive.mkdir()
    export.export_log(device_log.path, drive)
    folder = drive / "facepace" / device_log.device_id
    header = next(csv.reader((folder / "sessions.csv").open()))
    assert header == [*session_columns.SESSION_COLUMNS, *session_columns.ZONE_COLUMNS]
    assert "date_quality" in header
    rows = list(csv.DictReader((folder / "sessions.csv").open()))
    assert {row["date_quality"] for row in rows} == {"clock"}
    lines = [json.loads(line) for line in (folder / "sessions.jsonl").read_text().splitlines()]
    assert all(list(item) == [*session_columns.SESSION_COLUMNS, "zones"] for item in lines)


def test_the_command_prints_one_line_for_people_and_key_values_for_scripts(tmp_path, device_log,
                                                                          monkeypatch, capsys):
    from device.cli import main as cli

    monkeypatch.setenv("FACEPACE_STATE_DIR", str(device_log.path.parent))
    drive = tmp_path / "drive"
    drive.mkdir()
    folder = drive / "facepace" / device_log.device_id
    assert cli.main(["export", "--to", str(drive)]) == 0
    assert capsys.readouterr().out == f"Exported 5 sessions to {folder}\n"
    assert cli.main(["export", "--porcelain", "--to", str(drive)]) == 0
    assert capsys.readouterr().out == f"sessions=5\nfolder={folder}\n"
