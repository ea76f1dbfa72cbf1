"""Routine files, the built-in routines, the library and `facepace routines`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from device.cli import main as cli
from device.settings import paths
from device.base.errors import Problem, RoutineError
from device.settings.routines import (
    BUILTIN_DIR,
    CUE_LINE_MAX_CHARS,
    ZONE_TITLE_MAX_CHARS,
    Zone,
    find_routine,
    load_library,
    load_routine,
    skipped_notice,
)
from device.screen.screens import fits
from device.screen.views import ZoneView

# Line numbers used below: 1 title, 4 [[zones]], 5 id, 6 title, 7 cue, 8 seconds,
# 9 tempo, 10 intensity, 11 sides, 13 second [[zones]], 14 its id.
GOOD = '''\
title = "Test routine"
description = "For tests."

[[zones]]
id = "cheeks"
title = "Cheeks"
cue = "Nose to ear\\nalong cheekbone"
seconds = 60
tempo = 30
intensity = 3
sides = 2

[[zones]]
id = "forehead"
title = "Forehead"
cue = "Brows up"
seconds = 30
tempo = 0
intensity = 1
sides = 1
enabled = false
'''


def write(folder: Path, text: str, name: str = "test.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def replace_line(text: str, line_number: int, new_line: str | None) -> str:
    """The document with one line replaced (None: blanked, so later numbers stay)."""
    lines = text.split("\n")
    lines[line_number - 1] = "" if new_line is None else new_line
    return "\n".join(lines)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    problems = caught.value.problems
    assert all(problem.file == path for problem in problems)
    lines = [str(problem) for problem in problems]
    assert str(caught.value) == "\n".join(lines)
    return lines


# --- a good file ----------------------------------------------------------------------


def test_good_file_loads_every_field(tmp_path):
    routine = load_routine(write(tmp_path, GOOD, "morning.toml"))
    assert (routine.name, routine.title, routine.description) == ("morning", "Test routine", "For tests.")
    assert routine.zones == (
        Zone(id="cheeks", title="Cheeks", cue="Nose to ear\nalong cheekbone", seconds=60, tempo=30,
             intensity=3, sides=2, enabled=True),
        Zone(id="forehead", title="Forehead", cue="Brows up", seconds=30, tempo=0, intensity=1,
             sides=1, enabled=False),
    )
    assert routine.source == tmp_path / "morning.toml"


def test_disabled_zones_are_kept_but_not_played_or_counted(tmp_path):
    routine = load_routine(write(tmp_path, GOOD))
    assert [zone.id for zone in routine.active_zones] == ["cheeks"]
    assert routine.total_seconds == 60


def test_content_hash_is_sha256_of_the_exact_bytes(tmp_path):
    path = write(tmp_path, GOOD)
    first = load_routine(path).content_hash
    assert first == hashlib.sha256(GOOD.encode()).hexdigest()
    path.write_text(GOOD + "# a comment changes the bytes\n")
    assert load_routine(path).content_hash != first


def test_multi_line_string_cue_is_trimmed_to_its_lines(tmp_path):
    text = replace_line(GOOD, 7, 'cue = """\n  Nose to ear  \nalong cheekbone\n"""')
    zone = load_routine(write(tmp_path, text)).zones[0]
    assert zone.cue == "Nose to ear\nalong cheekbone"
    assert zone.cue_lines == ("Nose to ear", "along cheekbone")


@pytest.mark.parametrize(("cue", "lines"), [
    ("Down to the collarbone", ("Down to the", "collarbone")),   # 22 characters, written as a sentence
    ("Sweep up from the chin to the ear", ("Sweep up from the", "chin to the ear")),
    ("Nose to ear\\nalong the cheekbone", ("Nose to ear", "along the cheekbone")),
    ("  Brows up  ", ("Brows up",)),
    (f"{'c' * 21} {'d' * 21}", ("c" * 21, "d" * 21)),
])
def test_a_cue_written_as_a_sentence_is_wrapped_between_words(tmp_path, cue, lines):
    zone = load_routine(write(tmp_path, replace_line(GOOD, 7, f'cue = "{cue}"'))).zones[0]
    assert zone.cue_lines == lines and zone.cue == "\n".join(lines)
    assert fits(ZoneView(zone.title, zone.cue, 20, 60, 1, 2)) == []   # as the zone screen draws it


def test_limits_are_inclusive(tmp_path):
    text = GOOD
    for line, value in ((6, f'title = "{"T" * ZONE_TITLE_MAX_CHARS}"'),
                        (7, f'cue = "{"c" * CUE_LINE_MAX_CHARS}\\n{"d" * CUE_LINE_MAX_CHARS}"'),
                        (8, "seconds = 600"), (9, "tempo = 120"), (10, "intensity = 5")):
        text = replace_line(text, line, value)
    zone = load_routine(write(tmp_path, text)).zones[0]
    assert (len(zone.title), zone.seconds, zone.tempo, zone.intensity) == (12, 600, 120, 5)


# --- one rule at a time: FILE:LINE: zone 'id': message ---------------------------------


@pytest.mark.parametrize(
    ("line", "new_line", "expected"),
    [
        (8, "seconds = 0", "8: zone 'cheeks': seconds must be 5..600, got 0"),
        (8, "seconds = 601", "8: zone 'cheeks': seconds must be 5..600, got 601"),
        (8, "seconds = 60.0", "8: zone 'cheeks': seconds must be a whole number, got 60.0"),
        (8, "seconds = 8", "8: zone 'cheeks': seconds must be at least 10 with sides = 2, got 8"),
        (9, "tempo = -1", "9: zone 'cheeks': tempo must be 0..120, got -1"),
        (9, "tempo = 121", "9: zone 'cheeks': tempo must be 0..120, got 121"),
        (10, "intensity = 0", "10: zone 'cheeks': intensity must be 1..5, got 0"),
        (10, "intensity = 6", "10: zone 'cheeks': intensity must be 1..5, got 6"),
        (10, 'intensity = "3"', "10: zone 'cheeks': intensity must be a whole number, got \"3\""),
        (11, "sides = 3", "11: zone 'cheeks': sides must be 1 or 2, got 3"),
        (11, "sides = true", "11: zone 'cheeks': sides must be a whole number, got true"),
        (11, "enabled = 1", "11: zone 'cheeks': enabled must be true or false, got 1"),
        (6, 'title = "Cheekbone lift"',
         '6: zone \'cheeks\': title "Cheekbone lift" is 14 characters; at most 12 fit the screen'),
        (6, 'title = "  "', "6: zone 'cheeks': title must not be empty"),
        (6, 'title = "Two\\nlines"', "6: zone 'cheeks': title must be one line"),
        (7, 'cue = "Sweep up from the chin to the ear and back"',
         '7: zone \'cheeks\': cue needs 3 lines on the screen ("Sweep up from the" / "chin to the ear and" / '
         '"back"); 2 lines of 21 characters fit'),
        (7, 'cue = "Nose to ear\\nthen along the cheekbone"',
         '7: zone \'cheeks\': cue needs 3 lines on the screen ("Nose to ear" / "then along the" / '
         '"cheekbone"); 2 lines of 21 characters fit'),
        (7, 'cue = "one\\ntwo\\nthree\\nfour"', '7: zone \'cheeks\': cue needs 4 lines on the screen ("one" / '
         '"two" / "three" ...); 2 lines of 21 characters fit'),
        (7, 'cue = "Sternocleidomastoideus-line"',
         '7: zone \'cheeks\': cue word "Sternocleidomastoideus-line" is 27 characters; at most 21 fit on a line'),
        (7, "cue = 5", "7: zone 'cheeks': cue must be a string, got 5"),
        (5, 'id = "Cheeks"',
         "5: zone 'Cheeks': id must be lowercase letters and digits joined by - or _ (at most 32), "
         'got "Cheeks"'),
        (5, 'id = "cheeks!"',
         "5: zone 'cheeks!': id must be lowercase letters and digits joined by - or _ (at most 32), "
         'got "cheeks!"'),
        (5, "id = 7", "5: zone 1: id must be a string, got 7"),
        (5, 'id = "forehead"', "14: zone 'forehead': id is already used on line 5"),
        (5, None, "4: zone 1: id is missing"),
        (8, None, "4: zone 'cheeks': seconds is missing"),
        (7, None, "4: zone 'cheeks': cue is missing"),
        (11, "secs = 5", "11: zone 'cheeks': unknown key 'secs'; did you mean 'seconds'?"),
        (11, "strokes = 5", "11: zone 'cheeks': unknown key 'strokes'; allowed: 'id', 'title', 'cue', "
                            "'seconds', 'tempo', 'intensity', 'sides', 'enabled', 'caution'"),
        (1, None, "1: title is missing"),
        (1, 'title = ""', "1: title must not be empty"),
        (1, f'title = "{"x" * 41}"', "1: title is 41 characters; at most 40"),
        (1, "title = 3", "1: title must be a string, got 3"),
        (2, "description = [1]", "2: description must be a string, got an array"),
        (2, 'titel = "x"', "2: unknown key 'titel'; did you mean 'title'?"),
    ],
)
def test_each_rule_names_file_line_zone_and_what_is_allowed(tmp_path, line, new_line, expected):
    text = GOOD
    if line == 11 and new_line and not new_line.startswith("sides"):
        text = replace_line(text, 12, new_line)  # an extra key, keeping sides
        expected = expected.replace("11:", "12:", 1)
    else:
        text = replace_line(text, line, new_line)
    path = write(tmp_path, text)
    assert problems_of(path) == [f"{path}:{expected}"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('title = "No zones"\n', "1: no zones: add at least one [[zones]] table"),
        ('title = "Empty"\nzones = []\n', "2: no zones: add at least one [[zones]] table"),
        ('title = "Bad"\nzones = [1, 2]\n', "2: zones must be [[zones]] tables"),
        ('title = "Bad"\n[zones]\nid = "a"\n', "2: zones must be [[zones]] tables"),
    ],
)
def test_routine_needs_zone_tables(tmp_path, text, expected):
    path = write(tmp_path, text)
    assert problems_of(path) == [f"{path}:{expected}"]


def test_at_least_one_zone_must_be_enabled(tmp_path):
    path = write(tmp_path, replace_line(GOOD, 11, "sides = 2\nenabled = false"))
    assert problems_of(path) == [f"{path}:4: every zone is disabled: enable at least one"]


def test_every_problem_is_reported_at_once_in_line_order(tmp_path):
    text = GOOD
    for line, value in ((1, None), (6, 'title = "Cheekbone lift"'), (8, "seconds = 0"),
                        (10, "intensity = 9"), (14, 'id = "cheeks"'), (16, "cue = 3")):
        text = replace_line(text, line, value)
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:1: title is missing",
        f'{path}:6: zone \'cheeks\': title "Cheekbone lift" is 14 characters; at most 12 fit the screen',
        f"{path}:8: zone 'cheeks': seconds must be 5..600, got 0",
        f"{path}:10: zone 'cheeks': intensity must be 1..5, got 9",
        f"{path}:14: zone 'cheeks': id is already used on line 5",
        f"{path}:16: zone 'cheeks': cue must be a string, got 3",
    ]


def test_syntax_error_is_one_problem_with_file_and_line(tmp_path):
    path = write(tmp_path, replace_line(GOOD, 9, "tempo == 30"))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:9: invalid TOML: ")


def test_missing_file_is_a_routine_error(tmp_path):
    [problem] = problems_of(tmp_path / "gone.toml")
    assert problem.startswith(f"{tmp_path / 'gone.toml'}: cannot read: ")


# --- the built-in routines ------------------------------------------------------------

BUILTIN_LENGTHS = {"daily": 480, "quick": 180, "lymphatic": 360, "evening": 360}


def builtins() -> dict:
    library = load_library(None)
    assert library.errors == ()
    return {routine.name: routine for routine in library.routines}


def test_builtins_load_in_display_order_with_their_documented_lengths():
    routines = builtins()
    assert list(routines) == ["daily", "quick", "lymphatic", "evening"]
    assert {name: routine.total_seconds for name, routine in routines.items()} == BUILTIN_LENGTHS
    assert all(routine.description for routine in routines.values())
    assert all(routine.source.parent == BUILTIN_DIR for routine in routines.values())


def test_daily_goes_neck_up_the_face_and_back_down():
    ids = [zone.id for zone in builtins()["daily"].zones]
    assert ids == ["serum", "collarbone", "neck", "jawline", "cheeks", "under-eye", "brows",
                   "forehead", "drain"]


def test_daily_under_eye_is_the_lightest_and_slowest_face_zone():
    zones = {zone.id: zone for zone in builtins()["daily"].zones}
    under_eye = zones["under-eye"]
    assert under_eye.intensity == min(zone.intensity for zone in zones.values())
    assert under_eye.tempo == min(zone.tempo for zone in zones.values() if zone.tempo > 0)


def test_two_sided_zones_where_a_practitioner_works_one_side_then_the_other():
    zones = {zone.id: zone for zone in builtins()["daily"].zones}
    assert {zone_id for zone_id, zone in zones.items() if zone.sides == 2} == {
        "neck", "jawline", "cheeks", "under-eye", "drain"}


def test_lymphatic_is_light_slow_and_starts_and_ends_at_the_collarbone():
    zones = builtins()["lymphatic"].zones
    assert max(zone.intensity for zone in zones) <= 2
    assert max(zone.tempo for zone in zones) <= 15
    assert "collarbone" in zones[0].id and "collarbone" in zones[-1].cue


def test_evening_ends_with_paced_breathing():
    last = builtins()["evening"].zones[-1]
    assert (last.id, last.sides, last.tempo) == ("breathe", 1, 6)
    assert "breathe" in last.cue.lower()


# --- the library: built-ins, user overrides, bad user files -------------------------


def test_user_routine_overrides_a_builtin_in_place_and_new_ones_are_appended_sorted(tmp_path):
    user = tmp_path / "routines"
    write(user, GOOD.replace("Test routine", "My quick one"), "quick.toml")
    write(user, GOOD.replace("Test routine", "Zed"), "zed.toml")
    write(user, GOOD.replace("Test routine", "Alpha"), "alpha.toml")
    library = load_library(user)
    assert library.names() == ["daily", "quick", "lymphatic", "evening", "alpha", "zed"]
    assert library.get("quick").title == "My quick one"
    assert not library.is_builtin(library.get("quick"))
    assert library.is_builtin(library.get("daily"))
    assert library.errors == ()


def test_a_problem_carries_its_file_line_and_key_as_fields(tmp_path):
    """What reads a problem (the screen's notice, a test) reads its fields, not its message."""
    path = write(tmp_path, replace_line(GOOD, 8, "seconds = 0"))
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert caught.value.problems == (
        Problem("zone 'cheeks': seconds must be 5..600, got 0", path, 8, ("zones", 0, "seconds")),)
    assert (caught.value.file, caught.value.line, caught.value.key) == (path, 8, ("zones", 0, "seconds"))
    assert skipped_notice(caught.value) == "Skipped test.toml, line 8: zone 'cheeks': seconds must be 5..600, got 0"


def test_bad_user_routine_is_skipped_with_its_error_and_builtins_stay(tmp_path):
    user = tmp_path / "routines"
    bad = write(user, replace_line(GOOD, 8, "seconds = 0"), "daily.toml")
    write(user, GOOD, "mine.toml")
    library = load_library(user)
    assert library.names() == ["daily", "quick", "lymphatic", "evening", "mine"]
    assert library.is_builtin(library.get("daily"))
    [error] = library.errors
    assert [str(problem) for problem in error.problems] == [f"{bad}:8: zone 'cheeks': seconds must be 5..600, got 0"]


def test_library_unpacks_as_routines_and_errors(tmp_path):
    routines, errors = load_library(tmp_path / "does-not-exist")
    assert [routine.name for routine in routines] == ["daily", "quick", "lymphatic", "evening"]
    assert errors == ()


def test_hidden_and_non_toml_files_are_ignored(tmp_path):
    user = tmp_path / "routines"
    write(user, "not toml at all [", ".#quick.toml")
    write(user, GOOD, "notes.txt")
    library = load_library(user)
    assert library.names() == ["daily", "quick", "lymphatic", "evening"]
    assert library.errors == ()


def test_find_routine_by_name_prefers_the_users_file(tmp_path):
    user = tmp_path / "routines"
    write(user, GOOD, "evening.toml")
    assert find_routine("evening", user).title == "Test routine"
    assert find_routine("daily", user).title == "Daily glow"


def test_find_routine_by_path(tmp_path):
    path = write(tmp_path / "elsewhere", GOOD, "trial.toml")
    routine = find_routine(str(path), None)
    assert (routine.name, routine.source) == ("trial", path)


def test_find_routine_raises_the_error_of_a_broken_user_file(tmp_path):
    user = tmp_path / "routines"
    bad = write(user, replace_line(GOOD, 10, "intensity = 7"), "daily.toml")
    with pytest.raises(RoutineError) as caught:
        find_routine("daily", user)
    assert [str(problem) for problem in caught.value.problems] == [f"{bad}:10: zone 'cheeks': intensity must be 1..5, got 7"]


def test_find_routine_unknown_name_suggests_the_closest(tmp_path):
    with pytest.raises(RoutineError, match=r"^no routine named 'dayly'; did you mean 'daily'\?$"):
        find_routine("dayly", None)


# --- `facepace routines` through the real command line ---------------------------------------------


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def config_with_user_routines(tmp_path):
    """A config path whose `routines` folder has an override, an addition and a bad file."""
    user = tmp_path / "routines"
    write(user, GOOD.replace("Test routine", "Short quick"), "quick.toml")
    write(user, GOOD.replace("Test routine", "Mine"), "mine.toml")
    write(user, replace_line(GOOD, 9, "tempo = 500"), "broken.toml")
    return write(tmp_path, "", "config.toml")


def test_list_shows_order_length_zones_and_user_marks(config_with_user_routines, capsys):
    status, out, err = run_cli(["--config", str(config_with_user_routines), "routines", "list"], capsys)
    assert status == 0
    rows = [line.split() for line in out.splitlines()]
    assert [row[0] for row in rows] == ["daily", "quick", "lymphatic", "evening", "mine"]
    assert out.splitlines()[0].split("  ")[0] == "daily"
    assert rows[0][-3:] == ["8:00", "9", "zones"]
    assert rows[1][-6:] == ["1:00", "1", "zone,", "1", "off", "(user)"]
    assert rows[4][-1] == "(user)" and rows[2][-1] == "zones"
    broken = config_with_user_routines.parent / "routines" / "broken.toml"
    assert err == f"skipped: {broken}:9: zone 'cheeks': tempo must be 0..120, got 500\n"


def test_list_without_config_shows_only_builtins(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "DEVICE_CONFIG", tmp_path / "absent.toml")
    status, out, err = run_cli(["routines", "list"], capsys)
    assert status == 0 and err == ""
    assert [line.split()[0] for line in out.splitlines()] == ["daily", "quick", "lymphatic", "evening"]


def test_show_prints_a_table_of_zones(capsys):
    status, out, _ = run_cli(["routines", "show", "quick"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "quick: Quick refresh (3:00, 6 zones)"
    row = next(line for line in lines if " jawline " in line).split()
    assert row[:6] == ["2", "jawline", "Jawline", "0:40", "30", "3"]
    assert row[6] == "2"
    assert "Chin to ear / firm, upward" in out


def test_show_json_has_every_field(capsys):
    status, out, _ = run_cli(["routines", "show", "daily", "--json"], capsys)
    assert status == 0
    data = json.loads(out)
    assert {"name", "title", "description", "total_seconds", "content_hash", "zones"} <= set(data)
    assert (data["name"], data["total_seconds"]) == ("daily", 480)
    assert data["content_hash"] == hashlib.sha256((BUILTIN_DIR / "daily.toml").read_bytes()).hexdigest()
    assert data["zones"][5] == {"id": "under-eye", "title": "Under-eye", "cue": "Inner to outer\nvery light",
                                "seconds": 50, "tempo": 16, "intensity": 1, "sides": 2, "enabled": True}


def test_show_marks_disabled_zones_and_accepts_a_file(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    status, out, _ = run_cli(["routines", "show", str(path)], capsys)
    assert status == 0
    assert next(line for line in out.splitlines() if "forehead" in line).endswith("(off)")
    assert out.splitlines()[0] == "test: Test routine (1:00, 1 zone, 1 off)"


def test_show_unknown_routine_exits_1(capsys):
    status, out, err = run_cli(["routines", "show", "nope"], capsys)
    assert (status, out) == (1, "")
    assert err.startswith("facepace: no routine named 'nope'")


def test_a_broken_routine_file_is_reported_as_file_and_line_and_exits_1(tmp_path, capsys):
    path = write(tmp_path, replace_line(GOOD, 8, "seconds = 0"))
    status, out, err = run_cli(["routines", "show", str(path)], capsys)
    assert (status, out) == (1, "")
    assert err == f"{path}:8: zone 'cheeks': seconds must be 5..600, got 0\n"


def test_check_good_files_exit_0(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    status, out, err = run_cli(["routines", "check", str(path), str(BUILTIN_DIR / "daily.toml")], capsys)
    assert (status, err) == (0, "")
    assert out.splitlines() == [f"{path}: ok (1 zone, 1 off, 1:00)",
                                f"{BUILTIN_DIR / 'daily.toml'}: ok (9 zones, 8:00)"]


def test_check_prints_every_error_of_every_file_and_exits_1(tmp_path, capsys):
    good = write(tmp_path, GOOD, "good.toml")
    bad = write(tmp_path, replace_line(replace_line(GOOD, 8, "seconds = 0"), 9, "tempo = 200"), "bad.toml")
    missing = tmp_path / "missing.toml"
    status, out, err = run_cli(["routines", "check", str(bad), str(good), str(missing)], capsys)
    assert status == 1
    assert out == f"{good}: ok (1 zone, 1 off, 1:00)\n"
    assert err.splitlines()[:2] == [f"{bad}:8: zone 'cheeks': seconds must be 5..600, got 0",
                                    f"{bad}:9: zone 'cheeks': tempo must be 0..120, got 200"]
    assert err.splitlines()[2].startswith(f"{missing}: cannot read: ")
    assert len(err.splitlines()) == 3
