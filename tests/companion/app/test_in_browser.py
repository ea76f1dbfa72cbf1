"""The companion page end to end in a real headless Chromium (Debian's `chromium`, driven by
Playwright), served by uvicorn on real loopback sockets as `facepace app` serves it.

History against the synced database; a routine edited in the form with the preview compared
to `render`'s output, pixels as the browser shows them; a problem shown inline; a routine
sent to a simulated device over a pty and accepted with a scripted press; a setting changed.
Every wait is on a condition in the page. FACEPACE_APP_SCREENSHOTS=1 saves each page to
docs/app/ for the README.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
from datetime import date, datetime
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install '.[test]'")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed ('make test' "
                                                         "installs it with apt when run as root)")

from PIL import Image, ImageChops  # noqa: E402

from companion.app.command import loopback_sockets, make_server  # noqa: E402
from companion.app.guard import Secrets  # noqa: E402
from companion.app.web import create_app  # noqa: E402
from companion.hostdb import HostDb  # noqa: E402
from device.screen.screens import render  # noqa: E402
from device.screen.views import ZoneView  # noqa: E402
from device.settings.routines import load_routine, BUILTIN_DIR  # noqa: E402
from tests.support.app_testing import SimulatedDevice, wait_until  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
SHOTS = REPO / "docs" / "app" if os.environ.get("FACEPACE_APP_SCREENSHOTS") else None
GUARD_MS = 60_000      # generous: a busy 2-core machine


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def served(config):
    """The page on real loopback sockets, as `facepace app` serves it; its address with the token."""
    sockets = loopback_sockets()
    config.keys = Secrets(port=sockets[0].getsockname()[1])
    server = make_server(create_app(config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    yield config.keys
    server.should_exit = True
    thread.join(timeout=30)
    for sock in sockets:
        sock.close()


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    context.set_default_timeout(GUARD_MS)
    opened = context.new_page()
    troubles: list[str] = []     # script errors, and anything the Content-Security-Policy refused
    opened.on("pageerror", lambda error: troubles.append(str(error)))
    opened.on("console", lambda message: message.type == "error" and troubles.append(message.text))
    yield opened
    context.close()
    assert troubles == []


@pytest.fixture
def device(tmp_path, config):
    made = SimulatedDevice(tmp_path, answer="ask")
    config.desk.port = made.port
    yield made
    made.close()


def until(page, expression: str) -> None:
    """Wait until `expression` is true in the page. Asked from here, not with Playwright's
    wait_for_function, which the page's Content-Security-Policy rightly refuses to run."""
    wait_until(lambda: page.evaluate(expression), guard=GUARD_MS / 1000, what=expression)


def shot(page, name: str, **options) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), **options)


def test_history_shows_the_databases_calendar_and_numbers(page, served, history_db):
    page.goto(served.url("/history"))
    assert page.url.endswith("/history")                   # the token left the address bar
    with HostDb.open(history_db) as db:
        rows = db.sessions()
    cells = page.eval_on_selector_all("a.day", "cells => cells.map(c => [c.dataset.day, Number(c.dataset.minutes)])")
    per_day: dict[date, float] = {}
    for record, _ in rows:
        day = datetime.fromtimestamp(record.wall_start).date()
        per_day[day] = per_day.get(day, 0.0) + record.active_seconds / 60
    first = date.fromisoformat(cells[0][0])
    assert {date.fromisoformat(d): round(m, 1) for d, m in cells if m} == \
           {d: round(m, 1) for d, m in per_day.items() if d >= first}
    assert page.inner_text("#total-sessions") == str(len(rows))
    box = page.locator("a.day").first.bounding_box()
    assert box["width"] >= 10 and box["height"] >= 10     # drawn, not collapsed
    shot(page, "history", full_page=True)
    page.select_option("select[name=device]", "pace-travel")
    page.wait_for_url(re.compile(r"device=pace-travel"))
    assert page.inner_text("#total-sessions") == str(sum(r.device_id == "pace-travel" for r, _ in rows))
    page.go_back()
    busiest = max((d for d, m in per_day.items() if d >= first), key=per_day.get)
    page.click(f'a.day[data-day="{busiest.isoformat()}"]')
    page.wait_for_url(re.compile(busiest.isoformat()))
    on_day = [r for r, _ in rows if datetime.fromtimestamp(r.wall_start).date() == busiest]
    assert page.locator("section.session").count() == len(on_day)
    shot(page, "day", full_page=True)


def scaled(view: ZoneView) -> Image.Image:
    panel = render(view).convert("L")
    return panel.resize((panel.width * 3, panel.height * 3), Image.Resampling.NEAREST)


def previewed(page) -> int:
    return int(page.evaluate("document.body.dataset.previewed"))


def edit(page, locator: str, value: str) -> None:
    """Type into a field and wait for the server's answer to that edit to be shown."""
    before = previewed(page)
    page.fill(locator, value)
    until(page, f"Number(document.body.dataset.previewed) > {before}")
    assert page.input_value(locator) == value, page.inner_text("#problems")


def test_a_form_edit_previews_the_devices_screen_pixel_for_pixel_and_a_problem_shows_inline(page, served):
    page.goto(served.url("/routines/edit") + "&name=quick")
    quick = load_routine(BUILTIN_DIR / "quick.toml")
    first = 'fieldset.zone[data-index="1"]'
    edit(page, f'{first} [data-key="title"]', "Jaw line")
    edit(page, f'{first} [data-key="seconds"]', "50")
    assert 'title = "Jaw line"' in page.input_value("#toml") and "seconds = 50" in page.input_value("#toml")
    zone = quick.active_zones[1]
    expected = [scaled(ZoneView("Jaw line", zone.cue, 50, 50, 2, len(quick.active_zones), "left")),
                scaled(ZoneView("Jaw line", zone.cue, 25, 50, 2, len(quick.active_zones), "right"))]
    images = page.locator('.screen-zone[data-zone="1"] img')
    assert images.count() == 2
    for index, want in enumerate(expected):
        images.nth(index).scroll_into_view_if_needed()
        box = images.nth(index).bounding_box()     # the panel's pixels as the browser draws them
        clip = {"x": round(box["x"]), "y": round(box["y"]), "width": 384, "height": 192}
        on_screen = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("L")
        assert on_screen.size == want.size and ImageChops.difference(on_screen, want).getbbox() is None
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "routine-editor")                          # the sticky columns read best at one screen

    edit(page, f'{first} [data-key="seconds"]', "0")
    text = page.input_value("#toml").splitlines()
    line = [i for i, row in enumerate(text, 1) if row == "seconds = 0"][0]
    problem = page.locator(f"{first} .zone-problems li")
    assert problem.inner_text() == f"quick.toml:{line}: zone 'jawline': seconds must be 5..600, got 0"
    assert "has-problem" in page.get_attribute(first, "class")
    shot(page, "routine-problem")


def test_a_routine_is_sent_to_the_device_and_accepted_with_a_press(page, served, device):
    page.goto(served.url("/routines/edit"))
    edit(page, "#name", "evening-calm")   # each edit's preview answered before the next (a race under load)
    edit(page, "#title", "Evening calm")
    page.click("#send")
    until(page, "document.getElementById('status').textContent.includes('Press the button on the device')")
    question = device.questions.get(timeout=GUARD_MS / 1000)
    assert question.prompt.startswith("Add routine 'Evening calm'")
    question.accept()                                       # the person's press
    until(page, "document.getElementById('status').textContent.includes('is on the device')")
    assert device.store.load().owned.routines["evening-calm"].decode() == page.input_value("#toml")
    page.goto(f"http://127.0.0.1:{served.port}/routines")
    listed = page.locator("#device-routines a", has_text="evening-calm")
    listed.wait_for()
    shot(page, "routines", full_page=True)
    listed.click()
    page.wait_for_url(re.compile(r"from=device"))
    assert page.input_value("#name") == "evening-calm" and page.input_value("#title") == "Evening calm"


def test_a_setting_is_changed_from_the_device_page(page, served, device):
    page.goto(served.url("/device"))
    page.wait_for_selector("#setting-dim_after")
    assert page.inner_text("#connected").startswith("Connected")
    assert page.get_attribute("#setting-dim_after", "max") == "3600"
    shot(page, "device", full_page=True)
    page.fill("#setting-dim_after", "90")
    page.click("#settings button[type=submit]")
    device.questions.get(timeout=GUARD_MS / 1000).accept()
    until(page, "document.getElementById('status').textContent === 'Settings changed on the device.'")
    assert device.store.load().owned.settings == {"dim_after": 90}
    until(page, "document.getElementById('setting-dim_after')?.value === '90'")


def test_sync_from_the_device_page_shows_progress_and_fills_history(page, served, device, config, tmp_path):
    from tests.support.sync_testing import record_sessions

    config.db_path = config.desk.db_path = tmp_path / "host.db"
    record_sessions(device.log, 600, seed=5)
    page.goto(served.url("/device"))
    page.wait_for_selector("#setting-dim_after")
    page.click("#sync")
    until(page, "document.getElementById('status').textContent.startsWith('600 new, 0 already had')")
    assert page.evaluate("[document.getElementById('sync-progress').value, document.getElementById('sync-progress').max]") == [600, 600]
    page.goto(f"http://127.0.0.1:{served.port}/history")
    assert page.inner_text("#total-sessions") == "600"


def zone_ids(page) -> list[str]:
    return re.findall(r'^id = "([^"]+)"$', page.input_value("#toml"), re.M)


def test_zones_are_added_moved_and_removed_in_the_form_and_the_toml_follows(page, served):
    page.goto(served.url("/routines/edit"))
    assert zone_ids(page) == ["cheeks"]

    def act(selector: str) -> None:
        before = previewed(page)
        page.click(selector)
        until(page, f"Number(document.body.dataset.previewed) > {before}")

    act("#add-zone")
    assert zone_ids(page) == ["cheeks", "zone-2"]
    assert page.locator(".screen-zone").count() == 2
    act('fieldset.zone[data-index="1"] [data-act="up"]')
    assert zone_ids(page) == ["zone-2", "cheeks"]
    assert page.locator(".screen-zone h3").first.inner_text().startswith("1. Zone 2")
    act('fieldset.zone[data-index="0"] [data-act="remove"]')
    assert zone_ids(page) == ["cheeks"] and page.locator("fieldset.zone").count() == 1
    before = previewed(page)
    page.fill("#toml", page.input_value("#toml").replace('title = "Cheeks"', 'title = "Temples"'))
    until(page, f"Number(document.body.dataset.previewed) > {before}")
    assert page.input_value('fieldset.zone[data-index="0"] [data-key="title"]') == "Temples"
