"""The recorder keeps the session log's disk work off the pacing loop."""

import threading

from device.recording import SessionRecorder
from device.sessionlog import SessionLog


def test_the_loop_never_waits_for_the_log_lock(tmp_path):
    """While the worker holds the log (a slow fsync, a repair), the loop's calls return at once."""
    session_log = SessionLog.open(tmp_path / "sessions.db")
    recorder = SessionRecorder(session_log, wall_time=lambda: 1_700_000_000.0, threaded=True)
    holding, release = threading.Event(), threading.Event()

    def slow_disk():
        with session_log._lock:          # exactly what a long write does
            holding.set()
            release.wait(30)

    recorder._submit(slow_disk)
    assert holding.wait(30)
    done = threading.Event()

    def loop_calls():
        recorder.take_notices()
        recorder.overview
        done.set()

    caller = threading.Thread(target=loop_calls)
    caller.start()
    finished_while_held = done.wait(5)
    release.set()
    caller.join(30)
    recorder.close()
    assert finished_while_held


def test_notices_from_the_log_reach_the_screen_once(tmp_path):
    path = tmp_path / "sessions.db"
    path.write_bytes(b"this is not a database" * 100)
    recorder = SessionRecorder(SessionLog.open(path), wall_time=lambda: 1_700_000_000.0, threaded=False)
    assert recorder.take_notices() == ["Log repaired"]
    assert recorder.take_notices() == []
    recorder.close()
