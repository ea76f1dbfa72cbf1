"""The History page against the database it reads: the calendar's minutes per day, this week,
the streaks, zone titles in readable units, sessions per routine, the device filter, a day's
sessions with estimated dates marked."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

import pytest

from companion.app.history_page import minutes_text
from companion.hostdb import HostDb
from device.log import goals, history
from device.settings.routines import load_library
from tests.support.app_testing import NOW

CELL = re.compile(r'data-day="([0-9-]+)" data-minutes="([0-9.]+)"')


def sessions(db_path, device=None):
    with HostDb.open(db_path) as db:
        return db.sessions(device_id=device)


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, element_id
    return found.group(1).strip()


def test_the_calendar_holds_every_days_minutes_for_a_year(client, history_db):
    html = client.get("/history").text
    shown = {date.fromisoformat(day): float(minutes) for day, minutes in CELL.findall(html)}
    today = datetime.fromtimestamp(NOW).date()
    expected = defaultdict(float)
    for record, _ in sessions(history_db):
        expected[datetime.fromtimestamp(record.wall_start).date()] += record.active_seconds / 60
    assert max(shown) == today and min(shown).weekday() == 0 and len(shown) > 358
    assert {day: round(minutes, 1) for day, minutes in shown.items() if minutes} == \
           {day: round(minutes, 1) for day, minutes in expected.items() if day >= min(shown)}
    assert "20 min or more" in html and "under 5 min" in html       # the legend


def test_this_week_streaks_and_totals_are_the_databases(client, history_db):
    rows = sessions(history_db)
    html = client.get("/history").text
    monday = datetime.fromtimestamp(NOW).date() - timedelta(days=datetime.fromtimestamp(NOW).weekday())
    this_week = [r for r, _ in rows if datetime.fromtimestamp(r.wall_start).date() >= monday]
    assert int(text_of(html, "week-sessions")) == len(this_week) > 0
    assert text_of(html, "week-minutes") == minutes_text(sum(r.active_seconds for r in this_week) / 60)
    # The weekly goal's numbers, by the rules every screen and command shares (device/log/goals.py).
    done = [goals.Done(r.wall_start, r.active_seconds, sum(z.planned_seconds for z in r.zones)) for r, _ in rows]
    added = goals.tally(done, NOW)
    standing = goals.progress_of(added)
    assert int(text_of(html, "week-days")) == standing.this_week.days_done
    assert int(text_of(html, "week-goal")) == standing.this_week.needed == 5
    assert int(text_of(html, "streak-current")) == standing.streak_weeks
    assert int(text_of(html, "streak-longest")) == goals.longest_of(added) > 1
    assert int(text_of(html, "total-sessions")) == len(rows) == 300
    assert int(text_of(html, "estimated-count")) == sum(q == "estimated" for _, q in rows) > 0


def test_zones_by_title_in_readable_units_and_sessions_per_routine(client, history_db):
    html = client.get("/history").text
    zones = dict(re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">([^<]+)</td></tr>",
                            html.split('id="zones"')[1].split("</table>")[0]))
    under_eye = sum(z.done_seconds for r, _ in sessions(history_db) for z in r.zones if z.zone_id == "under-eye")
    assert zones["Under-eye"] == minutes_text(under_eye / 60) and re.fullmatch(r"\d+:\d\d h", zones["Under-eye"])
    assert "under-eye" not in zones
    per_routine = dict(re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td></tr>",
                                  html.split('id="routines"')[1].split("</table>")[0]))
    counts = Counter(r.routine_name for r, _ in sessions(history_db))
    assert int(per_routine["Daily glow"]) == counts["daily"] and int(per_routine["Quick refresh"]) == counts["quick"]


@pytest.mark.parametrize("minutes, shown", [(0.4, "0 min"), (59.4, "59 min"), (59.6, "1:00 h"), (65, "1:05 h"),
                                            (600.2, "10:00 h")])
def test_minutes_read_as_hours_past_an_hour(minutes, shown):
    assert minutes_text(minutes) == shown


def test_the_device_filter_shows_one_devices_sessions(client, history_db):
    html = client.get("/history?device=pace-travel").text
    assert int(text_of(html, "total-sessions")) == len(sessions(history_db, "pace-travel")) < 300
    assert '<option value="pace-travel" selected>' in html


def test_a_day_opens_its_sessions_with_zones_and_estimated_dates_explained(client, history_db):
    rows = sessions(history_db)
    estimated = next(r for r, q in rows if q == "estimated")
    day = datetime.fromtimestamp(estimated.wall_start).date()
    html = client.get(f"/history/{day.isoformat()}").text
    on_day = [r for r, _ in rows if datetime.fromtimestamp(r.wall_start).date() == day]
    assert html.count('class="card wide session"') == len(on_day)
    assert datetime.fromtimestamp(estimated.wall_start).strftime("%H:%M") + "?" in html
    assert "Estimated time" in html and "clock had not been set" in html
    card = html.split(f'data-session="{estimated.id}"')[1].split("</section>")[0]
    titles = {z.id: z.title for z in load_library(None).get(estimated.routine_name).zones}
    assert re.findall(r"<tr class=\"[a-z-]+\"><td>([^<]+)</td>", card) == [titles[z.zone_id] for z in estimated.zones]
    skipped = next((r for r in rows if any(z.skipped for z in r[0].zones)), None)
    shown = client.get(f"/history/{datetime.fromtimestamp(skipped[0].wall_start).date().isoformat()}").text
    assert 'class="skipped"' in shown and "ended early" in client.get("/history/" + datetime.fromtimestamp(
        next(r for r, _ in rows if r.outcome == "ended_early").wall_start).date().isoformat()).text
    assert client.get("/history/not-a-day").status_code == 404


def test_export_as_csv_and_json_has_every_session(client, history_db):
    import json

    exported = client.get("/export.json")
    assert exported.headers["content-disposition"].startswith("attachment")
    assert len(json.loads(exported.text)) == 300
    csv = client.get("/export.csv?device=pace-travel").text
    assert "pace-travel" in csv and "pace-kitchen" not in csv


def test_the_page_reads_the_database_again_after_a_sync(client, config, history_db, tmp_path):
    import shutil
    from dataclasses import replace

    config.db_path = tmp_path / "copy.db"
    shutil.copy(history_db, config.db_path)
    before = client.get("/history").text
    with HostDb.open(config.db_path) as db:
        rows = db.sessions()
        newest, quality = rows[0]
        db.store_batch("pace-new", "log-new", [(replace(newest, id="n-1", device_id="pace-new", seq=1), quality)], 1)
    after = client.get("/history").text
    assert text_of(before, "total-sessions") == "300" and text_of(after, "total-sessions") == "301"


@pytest.mark.parametrize("device", [None, "pace-travel"])
def test_zone_seconds_are_each_routines_zones_added_up(history_db, device):
    expected = defaultdict(float)
    for record, _ in sessions(history_db, device):
        for zone in record.zones:
            expected[record.routine_name, zone.zone_id] += zone.done_seconds
    with HostDb.open(history_db) as db:
        found = db.zone_seconds(device_id=device)
    assert len({routine for routine, _ in found}) > 1
    assert found == pytest.approx(dict(expected))
