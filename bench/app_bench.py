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


def client_for(db: Path, folder: Path) -> tuple[TestClient, Secrets]:
    keys = Secrets(port=8000)
    app = create_app(AppConfig(keys=keys, db_path=db, routines_dir=folder / "routines",
                               desk=DeviceDesk(db_path=db), now=lambda: NOW))
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    client.cookies.set(keys.cookie, keys.token)
    return client, keys


def timed(request) -> float:
    started = time.perf_counter()
    response = request()
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:200]
    return elapsed


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        db = folder / "synced.db"
        fill(db, SESSIONS, now=NOW, seed=1)
        client, keys = client_for(db, folder)
        client.get("/routines")          # the templates are compiled once per launch
        cold = []
        for run_number in range(RUNS):   # the first look after a sync: the database has changed
            with HostDb.open(db) as synced:
                synced.note_device("pace-kitchen", "0.1.0", NOW - run_number)
            cold.append(timed(lambda: client.get("/history")))
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
            (f"app: History, {SESSIONS} sessions, after a sync (median)", cold, HISTORY_TARGET),
            (f"app: History, {SESSIONS} sessions, again (median)", warm, HISTORY_TARGET),
            ("app: routine preview after an edit, 9 zones (median)", previews, PREVIEW_TARGET)):
        median = statistics.median(seconds)
        rows.append({"name": label, "value": f"{median * 1000:.0f} ms (max {max(seconds) * 1000:.0f})",
                     "target": f"< {target * 1000:.0f} ms", "ok": median < target})
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<60} {row['value']:<18} {row['target']:<10} {'ok' if row['ok'] else 'MISSED'}")
