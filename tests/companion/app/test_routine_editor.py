"""The routine editor: form and TOML in step, `routines check`'s messages, and a preview that is
the device's own screens, pixel for pixel."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image, ImageChops

from companion.app import routine_editor
from device.screen.screens import render
from device.screen.views import ZoneView
from device.settings.routines import BUILTIN_DIR, load_routine
from tests.support.app_testing import changing

REPO = Path(__file__).resolve().parents[3]
ZONE = {"id": "neck", "title": "Neck", "cue": "Stroke down\nlightly", "seconds": 40, "tempo": 30,
        "intensity": 2, "sides": 2, "enabled": True}


def image(data_uri: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("L"), b.convert("L")).getbbox() is None


def scaled(view: ZoneView) -> Image.Image:
    panel = render(view)
    return panel.resize((panel.width * 3, panel.height * 3), Image.Resampling.NEAREST)


def preview(client, keys, **body):
    answer = client.post("/api/routines/preview", json={"name": "mine", **body}, headers=changing(keys))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_form_edit_gives_the_toml_and_the_devices_screens_left_and_right(client, keys):
    form = {"title": "Mine", "description": "", "zones": [ZONE, {**ZONE, "id": "cheeks", "title": "Cheeks",
                                                                 "sides": 1, "seconds": 25, "tempo": 0}]}
    answer = preview(client, keys, form=form)
    assert answer["problems"] == []
    assert load_routine_text(answer["toml"]).zones[0].cue == "Stroke down\nlightly"
    neck, cheeks = answer["preview"]["zones"]
    assert [s["side"] for s in neck["screens"]] == ["left", "right"] and [s["side"] for s in cheeks["screens"]] == [""]
    assert same_pixels(image(neck["screens"][0]["png"]), scaled(ZoneView("Neck", "Stroke down\nlightly", 40, 40, 1, 2, "left")))
    assert same_pixels(image(neck["screens"][1]["png"]), scaled(ZoneView("Neck", "Stroke down\nlightly", 20, 40, 1, 2, "right")))
    assert same_pixels(image(cheeks["screens"][0]["png"]), scaled(ZoneView("Cheeks", "Stroke down\nlightly", 25, 25, 2, 2)))
    assert not same_pixels(image(neck["screens"][0]["png"]), image(neck["screens"][1]["png"]))
    assert answer["preview"]["total"] == "1:05"
    assert neck["rhythm"]["every_ms"] == 2000 and cheeks["rhythm"]["every_ms"] is None


def load_routine_text(text: str):
    checked = routine_editor.check("mine", toml=text)
    assert checked.routine is not None, checked.problems
    return checked.routine


def test_every_built_in_goes_through_the_form_and_back_unchanged():
    for path in BUILTIN_DIR.glob("*.toml"):
        original = load_routine(path)
        again = routine_editor.check(path.stem, form=routine_editor.check(path.stem, toml=path.read_text()).form)
        assert again.routine.zones == original.zones and again.routine.title == original.title, path


def test_problems_are_routines_checks_messages_and_name_their_zone(client, keys, tmp_path):
    text = routine_editor.toml_of({"title": "Mine", "zones": [ZONE, {**ZONE, "id": "brows", "seconds": 0,
                                                                     "title": "Much too long title"}]})
    answer = preview(client, keys, toml=text)
    (tmp_path / "mine.toml").write_text(text)
    checked = subprocess.run([sys.executable, "-m", "device", "routines", "check", "mine.toml"], cwd=tmp_path,
                             capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert checked.returncode == 1
    assert [p["text"] for p in answer["problems"]] == checked.stderr.strip().removeprefix("facepace: ").splitlines()
    assert {p["zone"] for p in answer["problems"]} == {1} and len(answer["problems"]) == 2
    assert answer["preview"] is None and answer["form"]["zones"][1]["seconds"] == 0


def test_text_that_is_not_toml_is_a_problem_with_its_line_and_the_form_waits(client, keys):
    answer = preview(client, keys, toml='title = "x"\n[[zones]\n')
    assert answer["form"] is None and answer["preview"] is None
    assert answer["problems"][0]["text"].startswith("mine.toml:2: ")


def test_a_bad_name_or_body_is_a_message_not_a_crash(client, keys):
    for body in ({"name": "../etc", "toml": ""}, {"name": "ok", "form": "zones"}, [1, 2]):
        answer = client.post("/api/routines/preview", json=body, headers=changing(keys))
        assert answer.status_code == 400 and answer.json()["message"]


def test_saving_keeps_the_routine_in_the_computers_folder_and_lists_it(client, keys, config):
    text = routine_editor.toml_of({"title": "Evening calm", "zones": [ZONE]})
    saved = client.post("/api/routines/save", json={"name": "evening-calm", "toml": text}, headers=changing(keys))
    assert saved.status_code == 200 and (config.routines_dir / "evening-calm.toml").read_text() == text
    assert "Evening calm" in client.get("/routines").text
    bad = client.post("/api/routines/save", json={"name": "bad", "toml": "title = 1"}, headers=changing(keys))
    assert bad.status_code == 400 and not (config.routines_dir / "bad.toml").exists()


@settings(derandomize=True, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                             st.sampled_from(["title", "zones", "id", "cue", "seconds", "sides", "x"]), inner,
                             max_size=5), max_leaves=20))
def test_any_json_from_the_page_gets_an_answer_never_a_crash(client, keys, form):
    answer = client.post("/api/routines/preview", json={"name": "mine", "form": form}, headers=changing(keys))
    assert answer.status_code in (200, 400), answer.text
