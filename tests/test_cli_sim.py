"""`facepace sim` as scripts use it: a real child process, real files."""

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import same_pixels

ROOT = Path(__file__).parent.parent


def facepace(*args, state, **kwargs):
    env = dict(os.environ, FACEPACE_STATE_DIR=str(state))
    return subprocess.run([sys.executable, "-m", "device", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, **kwargs)


def test_headless_run_writes_frames_and_trace(tmp_path):
    frames, trace = tmp_path / "frames", tmp_path / "trace.jsonl"
    result = facepace("sim", "--headless", "--routine", "quick", "--speed", "max",
                      "--script", "1:press,40:double,95:hold", "--frames", str(frames),
                      "--trace", str(trace), state=tmp_path / "state")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in frames.iterdir())
    assert names[0] == "000001.png" and names == [f"{i:06d}.png" for i in range(1, len(names) + 1)]
    first = Image.open(frames / names[0])
    assert first.size == (128, 64) and first.mode == "1"
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [e["gesture"] for e in events if e["event"] == "button"] == ["press", "double", "hold"]
    assert sum(e["event"] == "frame" for e in events) == len(names)
    end = [e for e in events if e["event"] == "session_end"]
    assert len(end) == 1 and end[0]["reason"] == "ended_early"
    skipped = [e for e in events if e["event"] == "zone_end" and e["reason"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["index"] == 1 and skipped[0]["id"] == "jawline"


def test_bad_script_is_explained(tmp_path):
    result = facepace("sim", "--headless", "--script", "1:press,soon:hold", state=tmp_path)
    assert result.returncode == 1
    assert "--script item 2 'soon:hold'" in result.stderr and "press, double, hold" in result.stderr


def test_unknown_routine_names_the_known_ones(tmp_path):
    result = facepace("sim", "--headless", "--routine", "dailly", state=tmp_path)
    assert result.returncode == 1 and "daily" in result.stderr


def test_bad_config_stops_the_start_with_file_line_and_key(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[motor]\npin = 18\nmin_duty = 1.5\n")
    result = facepace("--config", str(config), "sim", "--headless", state=tmp_path)
    assert result.returncode == 78
    assert f"{config}:3: [motor] min_duty must be 0.0..1.0, got 1.5" in result.stderr


def test_bad_user_routine_is_skipped_and_shown_and_the_rest_still_runs(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("")
    (tmp_path / "routines").mkdir()
    (tmp_path / "routines" / "mine.toml").write_text('title = "Mine"\n[[zones]]\nid = "x"\n')
    trace = tmp_path / "trace.jsonl"
    frames = tmp_path / "frames"
    result = facepace("--config", str(config), "sim", "--headless", "--speed", "max", "--routine", "quick",
                      "--script", "30:press", "--trace", str(trace), "--frames", str(frames),
                      state=tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert "skipped routine" in result.stderr and "mine.toml" in result.stderr
    from device.screens import notice_pages, render
    from device.views import IdleView
    # The file's name and its first problem in full, two lines at a time, each page long
    # enough to read; then the idle screen keeps saying a routine was skipped.
    pages = notice_pages("Skipped mine.toml, line 2: zone 'x': title is missing")
    assert pages == ["Skipped mine.toml,\nline 2: zone 'x':", "title is missing"]
    idle = IdleView("Quick refresh", 180, 2, 4, 3, routines_skipped=1)
    wanted = [render(idle, error=pages[0]), render(idle, error=pages[1]), render(idle)]
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    shown_at = [event["t"] for event in events if event["event"] == "frame"]
    found = []
    for number, at in enumerate(shown_at, start=1):
        with Image.open(frames / f"{number:06d}.png") as frame:
            if len(found) < len(wanted) and same_pixels(frame, wanted[len(found)]):
                found.append(at)
    assert len(found) == 3, "the notice's pages, then idle with the skipped line"
    assert (round(found[1] - found[0], 1), round(found[2] - found[1], 1)) == (10.0, 6.0)
    assert any(event["event"] == "session_end" for event in events)