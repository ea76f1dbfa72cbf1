"""The Device page's endpoints against a simulated device over a pty: its status and settings
with their ranges, a sync with progress into the computer's database, a routine pushed and
accepted on the device, settings changed; and no device at all."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from companion.app.routine_editor import toml_of
from companion.hostdb import HostDb
from tests.support.app_testing import SimulatedDevice, changing, wait_until
from tests.support.sync_testing import record_sessions

MINE = {"title": "Evening calm", "zones": [{"id": "cheeks", "title": "Cheeks", "cue": "Slow circles",
                                            "seconds": 360, "tempo": 30, "intensity": 3, "sides": 1}]}


@pytest.fixture
def device(tmp_path):
    made = SimulatedDevice(tmp_path)
    yield made
    made.close()


@pytest.fixture
def wired(client, config, device, tmp_path):
    """The page's client with the desk pointed at the simulated device's port."""
    config.desk.port = device.port
    config.desk.db_path = config.db_path = tmp_path / "host.db"
    return client


def finished(client) -> dict:
    return wait_until(lambda: (job := client.get("/api/job").json()) and job["state"] != "running" and job,
                      what="the job to finish")


def test_no_device_is_said_plainly(client):
    status = client.get("/api/device").json()
    assert status["connected"] is False and "cannot open" in status["message"]


def test_status_shows_the_device_and_its_settings_with_their_ranges(wired, device):
    status = wired.get("/api/device").json()
    assert status["connected"] is True and status["protocol"] == 3 and status["changeable"]
    rows = {row["name"]: row for row in status["settings"]}
    assert rows["dim_after"]["allowed"] == "5..3600" and rows["dim_after"]["kind"] == "int"
    assert rows["haptics"]["kind"] == "bool" and rows["rotation"]["choices"] == [0, 180]


def test_sync_copies_the_sessions_and_reports_progress(wired, device, config):
    record_sessions(device.log, 300, seed=3)
    started = wired.post("/api/sync", json={}, headers=changing(config.keys))
    assert started.status_code == 200 and started.json()["state"] == "running"
    job = finished(wired)
    assert job["state"] == "done" and job["message"].startswith("300 new, 0 already had")
    assert job["done"] == job["total"] == 300
    with HostDb.open(config.db_path) as db:
        assert len(db.sessions()) == 300 and len(db.device_notes()) == 1
    assert "last sync" in wired.get("/device").text


def test_a_routine_is_sent_and_lands_only_when_accepted(wired, device, config):
    text = toml_of(MINE)
    device.answer = "refuse"
    wired.post("/api/routines/send", json={"name": "evening-calm", "toml": text}, headers=changing(config.keys))
    refused = finished(wired)
    assert refused["state"] == "failed" and "refused on the device" in refused["message"]
    assert device.store.load().owned.routines == {}
    device.answer = "accept"
    wired.post("/api/routines/send", json={"name": "evening-calm", "toml": text}, headers=changing(config.keys))
    accepted = finished(wired)
    assert (accepted["state"], accepted["message"]) == ("done", "Routine 'evening-calm' is on the device.")
    assert device.store.load().owned.routines == {"evening-calm": text.encode()}
    assert device.prompts[-1] == "Add routine 'Evening calm' 6:00"


def test_a_bad_routine_is_never_sent(wired, device, config):
    bad = toml_of({**MINE, "zones": [{**MINE["zones"][0], "seconds": 0}]})
    answer = wired.post("/api/routines/send", json={"name": "bad", "toml": bad}, headers=changing(config.keys))
    assert answer.status_code == 400 and "seconds must be 5..600, got 0" in answer.json()["problems"][0]["text"]
    assert device.prompts == []


def test_settings_change_after_the_press_and_bad_values_are_refused_here(wired, device, config):
    changed = wired.post("/api/settings", json={"values": {"dim_after": "90", "haptics": False}},
                         headers=changing(config.keys))
    assert changed.status_code == 200
    assert finished(wired)["message"] == "Settings changed on the device."
    rows = {row["name"]: row for row in wired.get("/api/device").json()["settings"]}
    assert rows["dim_after"]["value"] == 90 and rows["haptics"]["value"] is False and rows["dim_after"]["set_here"]
    bad = wired.post("/api/settings", json={"values": {"dim_after": 2}}, headers=changing(config.keys))
    assert bad.status_code == 400 and bad.json()["message"] == "dim_after must be 5..3600, got 2"
    unknown = wired.post("/api/settings", json={"values": {"pins": 3}}, headers=changing(config.keys))
    assert unknown.status_code == 400 and len(device.prompts) == 1


def test_one_job_at_a_time_and_the_page_hears_the_device_asking(wired, device, config):
    device.answer = "ask"
    wired.post("/api/routines/send", json={"name": "evening-calm", "toml": toml_of(MINE)},
               headers=changing(config.keys))
    question = device.questions.get(timeout=60)
    asking = wait_until(lambda: "Press the button" in (job := wired.get("/api/job").json())["message"] and job,
                        what="the page to say the device asks")
    assert asking["state"] == "running"
    busy = wired.post("/api/sync", json={}, headers=changing(config.keys))
    assert busy.status_code == 400 and "busy" in busy.json()["message"]
    assert wired.get("/api/device").json()["connected"] is None
    question.accept()
    assert finished(wired)["state"] == "done"


@settings(derandomize=True, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(["haptics", "dim_after", "rotation", "routine_order", "time_zone",
                                               "gentlest", "pins", ""]),
                              st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
                              | st.lists(st.text(max_size=8), max_size=3), max_size=4))
def test_any_settings_json_gets_an_answer_and_only_allowed_values_leave(client, config, values):
    """No device here: a request that passes the checks starts a job that finds none."""
    from device.settings.settable import BY_NAME

    answer = client.post("/api/settings", json={"values": values}, headers=changing(config.keys))
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        assert values and all(name in BY_NAME for name in values)
        finished(client)


def test_the_devices_routines_are_listed_and_one_opens_in_the_editor(wired, device, config):
    text = toml_of(MINE)
    wired.post("/api/routines/send", json={"name": "evening-calm", "toml": text}, headers=changing(config.keys))
    assert finished(wired)["state"] == "done"
    listed = {r["name"]: r for r in wired.get("/api/device").json()["routines"]}
    assert listed["evening-calm"] == {"name": "evening-calm", "title": "Evening calm", "length": "6:00",
                                      "origin": "own", "offered": True}
    assert listed["daily"]["origin"] == "builtin"
    page = wired.get("/routines/edit?from=device&name=evening-calm").text
    start = json.loads(page.split('<script id="start" type="application/json">')[1].split("</script>")[0])
    assert start["toml"] == text and start["problems"] == [] and start["form"]["title"] == "Evening calm"
    assert wired.get("/routines/edit?from=device&name=../x").status_code == 400
