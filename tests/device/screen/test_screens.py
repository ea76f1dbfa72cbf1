"""Screens: pixels against reference PNGs, and proof that text fits the 128x64 panel."""

from __future__ import annotations

from dataclasses import replace
from itertools import groupby

import pytest
from PIL import Image, ImageDraw

from device.screen import fonts, screens
from device.settings.routines import load_library
from device.screen.screens import FLAME, Icon, Label, fits, layout, render
from device.screen.views import (IdleView, OffView, PausedView, PowerOffView, StartingView, SummaryView, SyncView,
                                 ZoneView)
from tests.conftest import same_pixels

IDLE = IdleView("Daily glow", 8 * 60 + 10, routine_number=1, routine_count=4, intensity=3,
                last_session="Yesterday, 8 min", streak_days=3, minutes_this_week=42)
ZONE = ZoneView("Jawline", "Knuckles chin to ear,\nfirm pressure", zone_remaining=27.3,
                zone_seconds=45, zone_number=3, zone_count=8, side="left")
PAUSED = PausedView("Cheeks", session_remaining=5 * 60 + 12.2, pause_remaining=250)
SUMMARY = SummaryView("Daily glow", active_seconds=8 * 60 + 5, zones_done=7, zones_skipped=1,
                      completed=True, streak="3 days in a row")
SCREENS = {"idle": IDLE, "idle_first_time": IdleView("Daily glow", 490, 1, 4, 3),
           "zone": ZONE, "paused": PAUSED, "paused_near_limit": replace(PAUSED, pause_remaining=45),
           "summary": SUMMARY, "sync": SyncView(12, 40), "synced": SyncView(40, 40, done=True), "exported": SyncView(12, 12, done=True, to_drive=True),
           "power_off": PowerOffView(4), "powering_off": PowerOffView(0), "off": OffView(),
           "starting": StartingView()}
NOTICES = ["Log repaired", "Disk full: log kept", "Bad routine: x.toml", "Display retry",
           "Exported 12 - remove"]

# The widest strings the routine limits allow: 12-character title, two 21-character cue lines.
WORST_ZONE = ZoneView("W" * 12, "W" * 21 + "\n" + "W" * 21, zone_remaining=600, zone_seconds=600,
                      zone_number=10, zone_count=10, side="right")


@pytest.mark.parametrize("name", SCREENS)
def test_screen_matches_reference(name, reference_image):
    reference_image(name, render(SCREENS[name]))


def test_error_bar_matches_reference(reference_image):
    reference_image("error", render(ZONE, error="Bad routine: x.toml"))


@pytest.mark.parametrize("view", SCREENS.values(), ids=SCREENS)
def test_frames_are_one_bit_panel_sized(view):
    image = render(view)
    assert (image.mode, image.size) == ("1", (128, 64))
    assert image.getextrema() == (0, 255), "pixels must be 0 or 255 (nothing lit, or a stray value)"


@pytest.mark.parametrize("view", SCREENS.values(), ids=SCREENS)
def test_sample_screens_fit(view):
    assert fits(view) == []


@pytest.mark.parametrize(("done", "skipped", "line"), [
    (1, 0, "1 zone done"), (0, 0, "0 zones done"), (7, 0, "7 zones done"), (1, 1, "1 done, 1 skipped"),
])
def test_summary_counts_zones_in_english(done, skipped, line):
    assert line in texts(replace(SUMMARY, zones_done=done, zones_skipped=skipped))


def test_summary_time_spent_rounds_down_as_the_log_does_while_countdowns_round_up():
    assert "3:08" in texts(replace(SUMMARY, active_seconds=188.27))
    assert "3:09" in texts(replace(ZONE, zone_remaining=188.27))
    assert "3:09" in texts(replace(PAUSED, session_remaining=188.27))


def test_paused_unit_cannot_be_read_as_a_side():
    unit = [item.text for item in layout(PAUSED) if item.name == "session remaining unit"]
    assert unit == ["to go"]


@pytest.mark.parametrize("side", ["left", "right"])
def test_side_letters_stand_apart_evenly_spaced(side):
    """Each letter of LEFT / RIGHT is its own run of ink columns, with even gaps between them
    (the bitmap font's fixed pitch made "RI GHT": R touching I, a wide gap after it)."""
    view = replace(ZONE, side=side)
    side_label = next(item for item in layout(view) if item.name == "side")
    ink = render(view).crop(side_label.ink())
    columns = [any(ink.getpixel((x, y)) for y in range(ink.height)) for x in range(ink.width)]
    runs = [(lit, len(list(run))) for lit, run in groupby(columns)]
    letters = [length for lit, length in runs if lit]
    gaps = [length for lit, length in runs[1:-1] if not lit]
    assert len(letters) == len(side) and max(gaps) - min(gaps) <= 1, runs


@pytest.mark.parametrize("tracking", [0, 1, 3])
@pytest.mark.parametrize("align", ["left", "right", "center"])
def test_tracked_label_draws_inside_the_ink_fits_measures(tracking, align):
    """fits() trusts Label.ink(); with tracking the letters are drawn one by one, so check that
    what is drawn lies within it and reaches its right edge."""
    font = fonts.capitals(11)
    item = screens.label("side", "LEFT", font, (40, 10, 100, 10 + font.line_height), align=align,
                         tracking=tracking)
    image = Image.new("1", (128, 64), 0)
    item.draw(ImageDraw.Draw(image))
    drawn, ink = image.getbbox(), item.ink()
    assert drawn[2] == ink[2] and ink[0] <= drawn[0] <= ink[0] + 1 and ink[1] <= drawn[1]
    assert drawn[3] <= ink[3]
    widths = [screens.label("side", "LEFT", font, (0, 0, 128, 20), tracking=t).ink()[2] for t in (0, 1)]
    assert widths[1] == widths[0] + 3, "one column more between each of the four letters"


def test_countdown_changes_once_a_second_on_the_whole_second():
    """12.5 s left reads 0:13 until 12 s are left; 12.0 and 11.5 both read 0:12."""
    def countdown_pixels(left: float):
        view = ZoneView("Cheeks", "Circles", left, 30, 1, 1)
        box = next(item for item in layout(view) if item.name == "countdown").area
        return render(view).crop(box)

    at_13, at_12, still_12 = (countdown_pixels(left) for left in (12.5, 12.0, 11.5))
    assert not same_pixels(at_13, at_12), "13 s and 12 s look the same"
    assert same_pixels(at_12, still_12), "the countdown changed within a second"


def test_progress_bar_fills_as_the_zone_runs():
    def lit(remaining: float) -> int:
        bar = render(ZoneView("Cheeks", "Circles", remaining, 40, 1, 1)).crop((0, 60, 128, 64))
        return bar.histogram()[255]

    assert lit(40) < lit(30) < lit(10) < lit(0)


def test_worst_case_zone_text_fits():
    assert fits(WORST_ZONE) == []


def test_every_countdown_up_to_ten_minutes_fits():
    for seconds in range(0, 601):
        assert fits(replace(WORST_ZONE, zone_remaining=seconds)) == [], seconds


@pytest.mark.parametrize(("view", "complaint"), [
    (ZoneView("W" * 13, "x", 5, 5, 1, 1), "zone title"),
    (ZoneView("Neck", "W" * 22, 5, 5, 1, 1), "cue"),
    (ZoneView("Neck", "one\ntwo\nthree", 5, 5, 1, 1), "cue line 2"),
    (IdleView("Routine", 60, 1, 1, 3, "W" * 22), "last session"),
    (IdleView("W" * 40, 60, 1, 1, 3), "routine title"),
    (SummaryView("Daily", 60, 1, 0, True, streak="W" * 22), "streak"),
])
def test_fits_reports_text_that_does_not_fit(view, complaint):
    problems = fits(view)
    assert any(problem.startswith(complaint) for problem in problems), problems


def test_long_text_is_shortened_not_clipped():
    """Shortened text ends in ".." and is drawn whole: the panel's edge cuts no letter off."""
    view = IdleView("Routine", 60, 1, 1, 3, "a very long phrase about the last session")
    row = next(item for item in layout(view) if item.name == "last session")
    assert row.text.endswith(screens.ELLIPSIS) and row.text != row.wanted
    unbounded = Image.new("1", (512, 64), 0)   # the label drawn where no edge can cut it
    row.draw(ImageDraw.Draw(unbounded))
    assert unbounded.getbbox()[2] <= 128, "letters would fall off the panel"
    band = (0, row.area[1], 128, row.area[3])
    assert same_pixels(render(view).crop(band), unbounded.crop(band))
    assert "shortened" in " ".join(fits(IdleView("Routine", 60, 1, 1, 3, "W" * 30)))


ERROR_SCREENS = {**SCREENS, "zone": ZoneView("Neck", "Stroke down", 20, 30, 1, 6)}


@pytest.mark.parametrize("view", ERROR_SCREENS.values(), ids=ERROR_SCREENS)
@pytest.mark.parametrize("error", NOTICES)
def test_error_bar_keeps_every_screen_readable(view, error):
    assert fits(view, error=error) == []
    bar = render(view, error=error).crop((0, 64 - screens.ERROR_BAR_HEIGHT, 128, 64))
    unlit = bar.histogram()[0]
    assert 0 < unlit < 128 * screens.ERROR_BAR_HEIGHT // 2, "the bar is lit with dark text"


def test_error_bar_gives_up_a_second_cue_line_not_the_countdown():
    problems = fits(ZONE, error="Display retry")
    assert problems and all(problem.startswith("cue line 1") for problem in problems)


def test_text_outside_latin1_does_not_crash_the_bitmap_font():
    render(ZoneView("Neck", "Sweep \u2192 up \u2026 \u201cgently\u201d", 5, 5, 1, 1), error="Fehler: \u00fcber \u2603")


def test_builtin_routines_fit_every_screen():
    library = load_library(None)
    routines = library.routines
    assert len(routines) >= 4 and not library.errors
    problems = []
    for number, routine in enumerate(routines, 1):
        idle = IdleView(routine.title, routine.total_seconds, number, len(routines), 5, "Yesterday, 8 min")
        problems += [f"{routine.title}: {problem}" for problem in fits(idle)]
        zones = routine.active_zones
        for index, zone in enumerate(zones, 1):
            for side in ("left", "right") if zone.sides == 2 else (None,):
                view = ZoneView(zone.title, zone.cue, zone.seconds, zone.seconds, index, len(zones), side)
                problems += [f"{routine.title} / {zone.id}: {problem}" for problem in fits(view)]
                problems += [f"{routine.title} / {zone.id}: {problem}"
                             for problem in fits(PausedView(zone.title, 3600, 300))]
    assert problems == []


# --- history on idle, sync, power-off, the pause limit, notices -------------------------------

def texts(view, *, error: str | None = None) -> list[str]:
    return [item.text for item in layout(view, error=error) if isinstance(item, Label)]


def test_idle_shows_streak_week_and_last_session():
    shown = texts(IDLE)
    assert {"3 days", "42 min/wk", "Yesterday, 8 min", "press: start"} <= set(shown), shown
    assert any(isinstance(item, Icon) and item.rows == FLAME for item in layout(IDLE))


@pytest.mark.parametrize(("streak", "week", "last", "wanted"), [
    (1, 3, "Today, 3 min", ["1 day", "3 min/wk", "Last: Today, 3 min"]),
    (2, 0, "Yesterday, 8 min", ["2 days", "Yesterday, 8 min"]),
    (0, 8, "Mon, 8 min", ["8 min this week", "Last: Mon, 8 min"]),
    (0, 0.2, "Mon, 0 min", ["1 min this week"]),
    (0, 0, None, ["Start a streak today"]),
])
def test_idle_history_row(streak, week, last, wanted):
    shown = texts(replace(IDLE, streak_days=streak, minutes_this_week=week, last_session=last))
    assert set(wanted) <= set(shown) and "0 min/wk" not in shown, shown


@pytest.mark.parametrize("error", [None, "Disk full: log kept"])
@pytest.mark.parametrize("streak", [0, 1, 9, 10, 99, 100, 999])
@pytest.mark.parametrize("week", [0, 0.4, 9, 99, 999, 9999])
def test_idle_history_fits_up_to_999_days_and_9999_minutes(streak, week, error):
    view = IdleView("Evening unwind", 600 * 60, 10, 10, 5, "Yesterday, 120 min",
                    streak_days=streak, minutes_this_week=week)
    assert fits(view, error=error) == []


def test_idle_error_bar_takes_the_hints_not_the_history():
    shown = texts(IDLE, error="Log repaired")
    assert {"3 days", "42 min/wk", "Yesterday, 8 min"} <= set(shown) and "press: start" not in shown


@pytest.mark.parametrize("error", [None, "Log repaired"])
def test_summary_ends_with_the_streak_even_above_the_error_bar(error):
    labels = [item for item in layout(SUMMARY, error=error) if isinstance(item, Label) and item.name != "error"]
    assert max(labels, key=lambda item: item.area[1]).text == "3 days in a row"


@pytest.mark.parametrize(("view", "wanted"), [
    (SyncView(12, 40), ["Syncing", "12/40", "sessions"]),
    (SyncView(40, 40, done=True), ["Synced", "40", "sessions", "safe to unplug"]),
    (SyncView(0, 0, done=True), ["Up to date", "safe to unplug"]),
    (PowerOffView(3.2), ["Power off in", "4", "release to cancel"]),
    (PowerOffView(0), ["Powering off\u2026"]),
])
def test_sync_and_power_off_texts(view, wanted):
    assert set(wanted) <= set(texts(view)), texts(view)


@pytest.mark.parametrize("error", [None, "Disk full: log kept"])
@pytest.mark.parametrize("view", [SyncView(0, 1), SyncView(99999, 99999), SyncView(12345, 99999),
                                  SyncView(99999, 99999, done=True), SyncView(0, 0, done=True)])
def test_sync_fits_up_to_99999_sessions(view, error):
    assert fits(view, error=error) == []


def test_sync_bar_fills_as_sessions_are_sent():
    def lit(sent: int) -> int:
        return render(SyncView(sent, 40)).crop((0, 60, 128, 64)).histogram()[255]

    assert lit(0) < lit(10) < lit(30) < lit(40)


@pytest.mark.parametrize("error", [None, "Display retry"])
def test_power_off_countdown_fits_from_ten_seconds_to_zero(error):
    for tenths in range(0, 101):
        assert fits(PowerOffView(tenths / 10), error=error) == [], tenths / 10


@pytest.mark.parametrize(("left", "warning"), [
    (300, None), (61, None), (60, "Session ends in 1:00"), (45, "Session ends in 0:45"), (1, "Session ends in 0:01"),
])
def test_paused_warns_only_in_the_last_minute(left, warning):
    shown = [text for text in texts(replace(PAUSED, pause_remaining=left)) if text.startswith("Session ends")]
    assert shown == ([warning] if warning else [])


@pytest.mark.parametrize("error", [None, "Log repaired"])
def test_paused_keeps_the_button_hints_near_the_limit(error):
    for left in range(0, 301, 5):
        view = replace(PAUSED, pause_remaining=left)
        assert fits(view, error=error) == [], left
        assert any(text.startswith("press") for text in texts(view, error=error)), left


def test_notice_limit_is_21_characters():
    assert fits(IDLE, error="W" * 21) == []
    assert "shortened" in " ".join(fits(IDLE, error="W" * 22))


def test_long_notice_ends_in_an_ellipsis_within_the_bar():
    assert texts(IDLE, error="Exported 12 - safe to remove")[-1] == "Exported 12 - safe.."


# --- a long notice in full, and the idle screen's skipped-routine line ----------------------

LONG_NOTICE = "Skipped mine.toml, line 12: zone 'neck': seconds must be 5..600, got 0"


def test_a_long_notice_is_split_into_pages_that_keep_every_word():
    pages = screens.notice_pages(LONG_NOTICE)
    assert [page.count("\n") for page in pages] == [1, 1]
    assert " ".join(page.replace("\n", " ") for page in pages) == LONG_NOTICE
    assert all(fits(IDLE, error=page) == [] for page in pages)


def test_a_two_line_notice_takes_two_lines_over_idle_and_keeps_the_history():
    page = screens.notice_pages(LONG_NOTICE)[0]
    shown = texts(IDLE, error=page)
    assert shown[-2:] == page.split("\n") and "3 days" in shown and "Yesterday, 8 min" not in shown
    bar = render(IDLE, error=page).crop((0, 64 - 22, 128, 64))
    assert bar.histogram()[255] > bar.histogram()[0], "both lines on a lit bar"


@pytest.mark.parametrize("view", [ZONE, PAUSED, SyncView(12, 40), PowerOffView(3)],
                         ids=["zone", "paused", "sync", "power off"])
def test_where_two_lines_would_crowd_the_screen_the_notice_takes_one(view):
    page = screens.notice_pages(LONG_NOTICE)[0]
    items = layout(view, error=page)
    assert [item.name for item in items if item.name.startswith("error")] == ["error", "error bar"]
    assert [item for item in items if item.name == "error bar"][0].area[1] == 64 - screens.ERROR_BAR_HEIGHT


@pytest.mark.parametrize(("count", "line"), [(1, "1 routine skipped"), (2, "2 routines skipped")])
@pytest.mark.parametrize("error", [None, "Log repaired"])
def test_idle_says_a_routine_was_skipped_in_place_of_the_hints(count, line, error):
    view = replace(IDLE, routines_skipped=count)
    assert fits(view, error=error) == []
    shown = texts(view, error=error)
    assert "press: start" not in shown
    assert (line in shown) == (error is None)   # a notice bar takes the row for its few seconds
