"""The companion page (issue 15) with 10,000 synced sessions: History rendered server-side
(after a sync, when nothing is cached, and again), and a routine preview after an edit.

Through Starlette's test client, so the figures are the server's work (routing, the guard,
the database, the numbers, the template) without a browser or a socket."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from companion.app.device_desk import DeviceDesk
from companion.app.guard import Secrets
from companion.app.routine_editor import check
from companion.app.web import AppConfig, create_app
from companion.hostdb import HostDb
from device.settings.routines import BUILTIN_DIR
from tests.support.synced_history import fill

SESSIONS = 10_000
RUNS = 7
HISTORY_TARGET = 0.300
PREVIEW_TARGET = 0.100
NOW = 1_796_300_000.0


def client_for(db: Path, folder: Path) -> tuple[TestClient, Secrets, AppConfig]:
    keys = Secrets(port=8000)
    config = AppConfig(keys=keys, db_path=db, routines_dir=folder / "routines", desk=DeviceDesk(db_path=db),
                       now=lambda: NOW)
    client = TestClient(create_app(config), base_url="http://127.0.0.1:8000")
    client.cookies.set(keys.cookie, keys.token)
    return client, keys, config


def timed(request) -> tuple[float, float]:
    """(wall, CPU) seconds of one request: the CPU time is this process's own work, which the
    other jobs on a shared machine do not stretch."""
    started, cpu = time.perf_counter(), time.process_time()
    response = request()
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    assert response.status_code == 200, response.text[:200]
    return elapsed


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        db = folder / "synced.db"
        fill(db, SESSIONS, now=NOW, seed=1)
        client, keys, config = client_for(db, folder)
        client.get("/routines")          # the templates are compiled once per launch
        cold, synced_here = [], []
        for run_number in range(RUNS):
            # `facepace sync` changed the database: the page works the numbers out as it is looked at.
            with HostDb.open(db) as synced:
                synced.note_device("pace-kitchen", "0.1.0", NOW - run_number)
            cold.append(timed(lambda: client.get("/history")))
            # The page's own sync works them out before it says it is done (DeviceDesk.after_sync).
            with HostDb.open(db) as synced:
                synced.note_device("pace-kitchen", "0.1.0", NOW - run_number - 0.5)
            config.desk.after_sync()
            synced_here.append(timed(lambda: client.get("/history")))
        warm = [timed(lambda: client.get("/history")) for _ in range(RUNS)]
        form = check("daily", toml=(BUILTIN_DIR / "daily.toml").read_text()).form
        headers = {"Origin": "http://127.0.0.1:8000", "X-CSRF-Token": keys.csrf}
        previews = []
        for seconds in range(30, 30 + RUNS * 5, 5):    # each edit a new length for the first zone
            form["zones"][0]["seconds"] = seconds
            previews.append(timed(lambda: client.post("/api/routines/preview", json={"name": "daily", "form": form},
                                                      headers=headers)))
    rows = []
    for label, seconds, target in (
            (f"app: History, {SESSIONS} sessions, after 'facepace sync' (median)", cold, HISTORY_TARGET),
            (f"app: History, {SESSIONS} sessions, after the page's sync (median)", synced_here, HISTORY_TARGET),
            (f"app: History, {SESSIONS} sessions, again (median)", warm, HISTORY_TARGET),
            ("app: routine preview after an edit, 9 zones (median)", previews, PREVIEW_TARGET)):
        median = statistics.median(wall for wall, _ in seconds)
        cpu = statistics.median(cpu for _, cpu in seconds)
        rows.append({"name": label, "value": f"{median * 1000:.0f} ms (CPU {cpu * 1000:.0f}, max "
                                             f"{max(wall for wall, _ in seconds) * 1000:.0f})",
                     "target": f"< {target * 1000:.0f} ms", "ok": median < target})
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<60} {row['value']:<18} {row['target']:<10} {'ok' if row['ok'] else 'MISSED'}")
