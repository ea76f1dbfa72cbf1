"""The weekly goal, the caution and the safety pages on the 128x64 panel: every value fits, and
the pixels say what they should."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product

import pytest

from device.log import goals
from device.screen import screens
from device.screen.safety import SAFETY_PAGES, safety_view
from device.screen.screens import DOT_PITCH, DOT_SIZE, WeekDots, fits, layout, render
from device.screen.views import IdleView, ZoneView
from device.settings.routines import load_library

NOTICE = "Disk full: log kept"
DAY = date(2026, 1, 1)
# The widest each status can be: the anchor's limit, every rest's end in a year, the gentle start.
STATUSES = [None, "W" * goals.ANCHOR_MAX_CHARS, "Gentle start 30 of 30",
            *{goals.idle_status(goals.Progress(DAY, None, 0, True, DAY + timedelta(days=days)))
              for days in range(366)}]


def idle(**fields) -> IdleView:
    return IdleView("Daily glow", 480, routine_number=1, routine_count=4, intensity=3,
                    last_session="Yesterday, 8 min", **fields)


@pytest.mark.parametrize("error", [None, NOTICE])
def test_the_idle_week_fits_at_every_value(error):
    found = []
    for goal, done, streak in product(range(8), range(8), (0, 1, 9, 10, 99, 100, 999)):
        view = idle(week_done=done, week_goal=goal, streak_weeks=streak)
        found += [(goal, done, streak, problem) for problem in fits(view, error=error)]
    for status, count in product(STATUSES, (1, 4)):
        view = IdleView("Daily glow", 480, 1, count, 3, week_done=7, week_goal=7, streak_weeks=999, status=status)
        found += [(status, problem) for problem in fits(view, error=error)]
    assert found == []


def dots_lit(image, view) -> list[bool]:
    dots = next(item for item in layout(view) if isinstance(item, WeekDots))
    left, top = dots.area[:2]
    return [image.getpixel((left + index * DOT_PITCH + DOT_SIZE // 2, top + DOT_SIZE // 2)) > 0
            for index in range(dots.dots)]


def test_the_dots_show_the_days_done_of_the_weeks_goal():
    view = idle(week_done=3, week_goal=5, streak_weeks=12)
    assert dots_lit(render(view), view) == [True, True, True, False, False]
    over = idle(week_done=6, week_goal=4)           # more than asked: a dot per day done
    assert dots_lit(render(over), over) == [True] * 6
    rest = idle(week_done=0, week_goal=0)
    assert [item.text for item in layout(rest) if getattr(item, "name", "") == "week"] == ["Rest week"]


def test_the_status_takes_the_last_sessions_place_and_the_streak_its_flame():
    view = idle(week_done=2, week_goal=5, streak_weeks=12, status="Rest until Mon 14 Dec")
    texts = {item.name: item.text for item in layout(view) if isinstance(item, screens.Label)}
    assert texts["status"] == "Rest until Mon 14 Dec" and texts["streak"] == "12 wk"
    assert "last session" not in texts
    no_streak = {item.name for item in layout(idle(week_done=2, week_goal=5))}
    assert "streak" not in no_streak and "streak icon" not in no_streak
    # Without the week fields the idle screen is as before (the app sets them when wired).
    assert "history" in {item.name for item in layout(idle(streak_days=3))}


def test_idle_status_is_most_pressing_first():
    week = goals.Week(DAY, 1, 5, 0)
    resting = goals.Progress(DAY, week, 2, True, date(2026, 12, 14))
    calm = goals.Progress(DAY, week, 2, True, None)
    assert goals.idle_status(resting, gentle_number=3, gentle_sessions=5, anchor="After tea") == \
        "Rest until Mon 14 Dec"
    assert goals.idle_status(calm, gentle_number=3, gentle_sessions=5, anchor="After tea") == "Gentle start 3 of 5"
    assert goals.idle_status(calm, anchor="After tea") == "After tea"
    assert goals.idle_status(calm) is None
    assert goals.idle_week(calm) == {"week_done": 1, "week_goal": 5, "streak_weeks": 2}


def caution_zones():
    return [(routine.name, zone) for routine in load_library(None).routines for zone in routine.zones
            if zone.caution]


def test_every_built_in_caution_fits_its_zone_screen():
    for name, zone in caution_zones():
        view = ZoneView(zone.title, zone.cue, zone.seconds - 1, zone.seconds, 10, 10,
                        "left" if zone.sides == 2 else None, caution=zone.caution_at(1.0))
        assert fits(view) == [], (name, zone.id)
        # Above a notice it gives up its second line, as the cue does, never the countdown.
        assert all(problem.startswith("caution line 1") for problem in fits(view, error=NOTICE))


def test_the_caution_replaces_the_cue_dark_on_a_lit_box():
    base = ZoneView("Under-eye", "Inner to outer\nvery light", 45, 50, 6, 9, "left")
    warned = ZoneView("Under-eye", "Inner to outer\nvery light", 45, 50, 6, 9, "left",
                      caution="Lightest touch. Stay\non the bone, off lid")
    names = [item.name for item in layout(warned)]
    assert "cue line 1" not in names and ["caution line 1", "caution line 2"] == [n for n in names if "line" in n]
    box = next(item for item in layout(warned) if item.name == "caution box").area
    image = render(warned)
    inside = [image.getpixel((x, y)) for x in range(box[0], box[2]) for y in range(box[1], box[3])]
    assert inside.count(0) > 0 and inside.count(255) > len(inside) / 2   # mostly lit, with dark letters
    assert render(base).crop(box).tobytes() != image.crop(box).tobytes()
    # A caution too long for the room is reported, not silently cut.
    assert any("shortened" in problem for problem in fits(
        ZoneView("Neck", "x", 5, 10, 1, 1, caution="word " * 20)))


@pytest.mark.parametrize("index", range(len(SAFETY_PAGES)))
def test_every_safety_page_fits_and_says_what_press_does(index):
    view = safety_view(index)
    assert fits(view) == []
    texts = [item.text for item in layout(view) if isinstance(item, screens.Label)]
    assert texts[0] == SAFETY_PAGES[index][0]
    assert " ".join(texts[1:-2]) == SAFETY_PAGES[index][1]           # all of it, in order
    last = index == len(SAFETY_PAGES) - 1
    assert texts[-2:] == [f"{index + 1}/{len(SAFETY_PAGES)}", "press: done" if last else "press: next"]


def test_the_safety_pages_say_what_the_readme_does():
    words = " ".join(text for _, text in SAFETY_PAGES)
    for needed in ("broken", "inflamed", "sunburnt", "acne", "two weeks", "fillers or Botox", "stop", "lightest"):
        assert needed in words


@pytest.mark.parametrize("error", [None, NOTICE])
def test_the_rest_confirmation_fits_every_day_and_says_both_answers(error):
    from device.screen.views import RestView

    for days in range(366):
        view = RestView(goals.day_name(DAY + timedelta(days=days)))
        assert fits(view, error=error) == [], view
    labels = [item for item in layout(RestView("Mon 14 Dec"), error=error)
              if isinstance(item, screens.Label) and item.name != "error"]
    texts = [item.text for item in sorted(labels, key=lambda item: item.area[1])]   # top to bottom
    assert texts == ["Resting", "until Mon 14 Dec", "press: start anyway", "hold: keep resting"]


def test_every_summary_phrase_fits_the_summary_screen():
    from device.screen.views import SummaryView

    phrases = set()
    for goal, done, streak, skipped in product(range(1, 8), range(8), (0, 1, 2, 99, 999), (False, True)):
        week = goals.Week(DAY, done, 0 if skipped else goal, 7 if skipped else 0)
        phrases.add(goals.summary_phrase(goals.Progress(DAY, week, streak, True, None)))
    for phrase in phrases:
        assert fits(SummaryView("Daily glow", 480, 9, 0, True, streak=phrase)) == [], phrase


REFERENCES = {
    "idle_week": idle(week_done=3, week_goal=5, streak_weeks=12, status="Rest until Mon 14 Dec"),
    "idle_week_full": idle(week_done=7, week_goal=7, streak_weeks=99, status="After brushing teeth"),
    "zone_caution": ZoneView("Under-eye", "Inner to outer\nvery light", 45, 50, 6, 9, "left",
                             caution="Lightest touch. Stay\non the bone, off lid"),
    **{f"safety_{index + 1}": safety_view(index) for index in range(len(SAFETY_PAGES))},
}


@pytest.mark.parametrize("name", REFERENCES)
def test_goal_screens_match_their_references(name, reference_image):
    reference_image(name, render(REFERENCES[name]))
