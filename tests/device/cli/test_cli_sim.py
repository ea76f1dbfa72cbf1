"""`facepace sim` as scripts use it: a real child process, real files."""

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

from PIL import Image

from tests.conftest import same_pixels

ROOT = Path(__file__).parents[3]


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
    assert result.returncode == 2   # a usage error, as argparse's own
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
    from device.screen.screens import notice_pages, render
    from device.screen.views import IdleView
    # The file's name and its first problem in full, two lines at a time, each page long
    # enough to read; then the idle screen keeps saying a routine was skipped.
    pages = notice_pages("Skipped mine.toml, line 2: zone 'x': title is missing")
    assert pages == ["Skipped mine.toml,\nline 2: zone 'x':", "title is missing"]
    idle = IdleView("Quick refresh", 180, 2, 4, 3, routines_skipped=1,   # a fresh log: this week, gently
                    week_done=0, week_goal=5, status="Gentle start 1 of 5")
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


# -- simulated time: a script plays the same at every speed -----------------------------------

README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
# Events that happen at an instant of their own (a gesture, a planned zone end): their `t`
# must be the same at every speed, however busy the machine.
PLAYED = ("button", "session_start", "zone_start", "switch_side", "zone_end", "pause", "resume",
          "session_end")
# When the app recognises each scripted gesture, from the script's instant (defaults of the
# config and the simulated finger, not the code under test): a press once its double-press
# window after the release has passed, a double at its second press, a hold 1.5 s down.
PRESS_AFTER = 0.12 + 0.35
DOUBLE_AFTER = 0.12 + 0.1
HOLD_AFTER = 1.5


def played(trace: Path) -> list[dict]:
    return [e for e in map(json.loads, trace.read_text().splitlines()) if e["event"] in PLAYED]


def readme_example() -> list[str]:
    """The README's scripted example, word for word, without the `facepace` in front."""
    section = README.split("## The simulator for scripts", 1)[1]
    command = section.split("```sh", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    words = shlex.split(command)
    assert words[:3] == ["facepace", "sim", "--headless"], words
    return words[1:]


def with_option(words: list[str], option: str, value: str) -> list[str]:
    words = list(words)
    words[words.index(option) + 1] = value
    return words


def play(words: list[str], tmp_path: Path, speed: str) -> list[dict]:
    trace = tmp_path / f"trace-{speed}.jsonl"
    words = with_option(words, "--speed", speed) if "--speed" in words else [*words, "--speed", speed]
    words = with_option(with_option(words, "--trace", str(trace)), "--frames", str(tmp_path / speed))
    result = facepace(*words, "--state", str(tmp_path / "state"), state=tmp_path / "env-state")
    assert result.returncode == 0, (speed, result.stderr)
    return played(trace)


def test_the_readme_example_plays_its_gestures_at_their_times_at_every_speed(tmp_path):
    words = readme_example()
    script = words[words.index("--script") + 1]
    assert script == "1:press,40:double,95:hold"    # the times below are this script's
    runs = {speed: play(words, tmp_path, speed) for speed in ("max", "60", "1000")}
    gestures = [(e["t"], e["gesture"]) for e in runs["max"] if e["event"] == "button"]
    assert gestures == [(1 + PRESS_AFTER, "press"), (40 + DOUBLE_AFTER, "double"),
                        (95 + HOLD_AFTER, "hold")]
    starts = [e["t"] for e in runs["max"] if e["event"] == "session_start"]
    skipped = [(e["t"], e["index"]) for e in runs["max"] if e.get("reason") == "skipped"]
    ends = [(e["t"], e["reason"]) for e in runs["max"] if e["event"] == "session_end"]
    assert starts == [1 + PRESS_AFTER] and skipped == [(40 + DOUBLE_AFTER, 1)]
    assert ends == [(95 + HOLD_AFTER, "ended_early")]
    assert runs["60"] == runs["max"] and runs["1000"] == runs["max"]


def test_the_make_run_demo_pauses_resumes_and_skips_where_the_script_says(tmp_path):
    script = re.search(r"^DEMO_SCRIPT := (\S+)$", MAKEFILE, re.M).group(1)
    assert script == "1:press,90:press,100:press,200:double"   # the times below are this script's
    words = ["sim", "--headless", "--routine", "daily", "--script", script, "--trace", "-", "--frames", "-"]
    runs = {speed: play(words, tmp_path, speed) for speed in ("max", "1000")}
    steps = [(e["t"], e["event"]) for e in runs["max"] if e["event"] in ("session_start", "pause", "resume")]
    assert steps == [(1 + PRESS_AFTER, "session_start"), (90 + PRESS_AFTER, "pause"),
                     (100 + PRESS_AFTER, "resume")]
    skipped = [e["t"] for e in runs["max"] if e.get("reason") == "skipped"]
    assert skipped == [200 + DOUBLE_AFTER]
    assert [e["reason"] for e in runs["max"] if e["event"] == "session_end"] == ["completed"]
    assert runs["1000"] == runs["max"]


def test_no_script_presses_one_simulated_second_after_the_device_is_ready(tmp_path):
    """The default script at a real speed: start-up takes no simulated time."""
    trace = tmp_path / "trace.jsonl"
    result = facepace("sim", "--headless", "--routine", "quick", "--speed", "60", "--trace", str(trace),
                      "--state", str(tmp_path / "state"), state=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert events[0] == {"t": 0.0, "event": "frame", "number": 1, "brightness": "normal"}
    assert [e["t"] for e in events if e["event"] == "session_start"] == [1 + PRESS_AFTER]


# -- simulated sessions stay out of the person's own log ---------------------------------------

def test_simulated_sessions_go_to_a_sim_folder_not_the_real_log(tmp_path):
    state = tmp_path / "state"
    result = facepace("sim", "--headless", "--routine", "quick", "--speed", "max", state=state)
    assert result.returncode == 0, result.stderr
    assert not (state / "sessions.db").exists()
    assert session_dates(state / "sim" / "sessions.db")
    assert f"simulated sessions are kept in {state / 'sim'}" in result.stderr


def test_simulated_sessions_are_never_dated_in_the_future(tmp_path):
    before = time.time()
    # Three quick sessions: 9 simulated minutes in well under a second of wall time.
    result = facepace("sim", "--headless", "--routine", "quick", "--speed", "max",
                      "--script", "1:press,250:press,500:press", "--state", str(tmp_path / "mine"),
                      state=tmp_path)
    after = time.time()
    assert result.returncode == 0, result.stderr
    dates = session_dates(tmp_path / "mine" / "sessions.db")
    assert len(dates) == 3
    for start, end in dates:
        assert before <= start <= end <= after


def session_dates(path: Path) -> list[tuple[float, float]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return db.execute("SELECT wall_start, wall_end FROM sessions ORDER BY wall_start").fetchall()


def test_the_interactive_simulator_keeps_its_sessions_apart_and_says_where(tmp_path):
    """`facepace sim` in a real pseudo-terminal: a key press starts a session, q quits."""
    state, trace = tmp_path / "state", tmp_path / "trace.jsonl"
    master, slave = os.openpty()
    env = dict(os.environ, FACEPACE_STATE_DIR=str(state), COLUMNS="80", LINES="24")
    child = subprocess.Popen([sys.executable, "-m", "device", "sim", "--routine", "quick", "--speed", "100",
                              "--trace", str(trace)], stdin=slave, stdout=slave, stderr=slave, env=env,
                             cwd=ROOT, start_new_session=True)
    os.close(slave)
    output = bytearray()
    reader = threading.Thread(target=read_all, args=(master, output), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: trace.exists() and '"frame"' in trace.read_text())
        os.write(master, b" ")
        assert wait_for(lambda: '"session_start"' in trace.read_text())
        os.write(master, b"q")
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(30)
    assert not (state / "sessions.db").exists()
    assert len(session_dates(state / "sim" / "sessions.db")) == 1
    assert f"simulated sessions are kept in {state / 'sim'}" in output.decode(errors="replace")


def read_all(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:   # the child closed the terminal
            return
        if not chunk:
            return
        into += chunk


def wait_for(condition, guard: float = 60.0) -> bool:
    """Poll a condition that a child process makes true; only a hung child takes the guard."""
    stop = time.monotonic() + guard
    while not condition():
        if time.monotonic() > stop:
            return False
        threading.Event().wait(0.01)
    return True


# -- a busy machine: late threads delay the gestures but never change them ---------------------

def busy(simulated_seconds: float, speed: float) -> None:
    """The injected delay: keep this thread from running for `simulated_seconds` at `speed`."""
    threading.Event().wait(simulated_seconds / speed)


def run_script(tmp_path: Path, name: str, speed: float | None, *, late_timer: bool = False,
               slow_frames: bool = False) -> list[dict]:
    from device.settings.config import Config
    from device.settings.routines import load_library
    from device.sim.simulator import Simulator, parse_script

    trace = tmp_path / f"{name}.jsonl"
    on_frame = (lambda image, bus: busy(3.0, speed)) if slow_frames else None
    sim = Simulator(Config(), list(load_library(None).routines), speed=speed, routine_name="quick",
                    trace_path=trace, on_frame=on_frame)
    try:
        if late_timer:
            # The finger's thread is stuck from just before the hold's press until well after
            # its release (96.7): the edges reach the app 10 simulated seconds late.
            sim.clock.call_at(94.9, lambda: busy(10.0, speed))
        assert sim.run_headless(parse_script("1:press,40:double,95:hold")) == 0
    finally:
        sim.close()
    return played(trace)


def test_a_late_finger_thread_or_a_slow_loop_changes_no_gesture(tmp_path):
    expected = run_script(tmp_path, "virtual", None)
    assert [(e["t"], e["gesture"]) for e in expected if e["event"] == "button"] == \
        [(1 + PRESS_AFTER, "press"), (40 + DOUBLE_AFTER, "double"), (95 + HOLD_AFTER, "hold")]
    for speed in (60.0, 1000.0):
        assert run_script(tmp_path, f"late-timer-{speed}", speed, late_timer=True) == expected, speed
        assert run_script(tmp_path, f"slow-loop-{speed}", speed, slow_frames=True) == expected, speed


def test_a_run_is_not_finished_while_an_edge_waits_in_the_queue(tmp_path):
    from device.settings.config import Config
    from device.settings.routines import load_library
    from device.sim.simulator import Simulator

    sim = Simulator(Config(), list(load_library(None).routines), routine_name="quick",
                    trace_path=tmp_path / "trace.jsonl")
    try:
        assert sim.run_headless([(1.0, "press"), (2.0, "hold")]) == 0 and sim.finished()
        sim.button.pin.drive_low()      # a finger on the (mock) pin: its edge is queued, not yet handled
        assert not sim.finished()
    finally:
        sim.close()


def test_a_simulated_battery_drains_on_the_idle_screen_and_ends_the_session_when_flat(tmp_path):
    frames, trace = tmp_path / "frames", tmp_path / "trace.jsonl"
    result = facepace("sim", "--headless", "--routine", "quick", "--speed", "max", "--battery", "14:5",
                      "--frames", str(frames), "--trace", str(trace), "--state", str(tmp_path / "state"),
                      state=tmp_path)
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    [end] = [event for event in events if event["event"] == "session_end"]
    # 14 % losing 5 % a minute is below 5 % after 108 s: the 120 s reading ends the session.
    assert end["reason"] == "low_battery" and end["t"] == 120.0
    assert [event["reason"] for event in events if event["event"] == "power_off"] == ["low_battery"]
    from device.screen.screens import notice_pages, render
    from device.screen.views import BatteryView, IdleView
    idle = render(IdleView("Quick refresh", 180.0, 2, 4, 3, week_done=0, week_goal=5, battery=BatteryView(14.0)),
                  error=notice_pages("Battery low: 14%, charge soon")[0])
    # after the splash and the idle screen, the first reading: the charge and the warning
    with Image.open(frames / "000003.png") as third_frame:
        assert same_pixels(third_frame, idle)
    assert result.returncode == 1   # no summary: the device powered off


def test_a_bad_battery_argument_is_explained(tmp_path):
    result = facepace("sim", "--headless", "--battery", "full", state=tmp_path)
    assert result.returncode != 0 and "--battery must be START:PER_MINUTE" in result.stderr
