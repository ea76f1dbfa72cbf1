"""A zone's `caution`: checked like the cue, shown in the zone's first seconds, used by the built-ins."""

from __future__ import annotations

import pytest

from device.settings.routines import CAUTION_SECONDS, load_library, load_routine
from tests.device.settings.test_routines import GOOD, problems_of, replace_line, write


def with_caution(line: str) -> str:
    """GOOD with a caution on line 12 (the blank line after the first zone's keys)."""
    return replace_line(GOOD, 12, line)


def test_a_caution_is_wrapped_like_a_cue_and_shown_in_the_first_seconds(tmp_path):
    zone = load_routine(write(tmp_path, with_caution('caution = "Lightest touch, stay off the eyelid"'))).zones[0]
    assert zone.caution == "Lightest touch, stay\noff the eyelid"
    assert [zone.caution_at(at) for at in (0.0, CAUTION_SECONDS - 0.1)] == [zone.caution] * 2
    assert zone.caution_at(CAUTION_SECONDS) is None
    plain = load_routine(write(tmp_path, GOOD, "plain.toml")).zones[0]
    assert plain.caution == "" and plain.caution_at(0.0) is None
    empty = load_routine(write(tmp_path, with_caution('caution = "  "'), "empty.toml")).zones[0]
    assert empty.caution_at(0.0) is None


@pytest.mark.parametrize("line, expected", [
    ('caution = "' + "very light " * 5 + '"',
     "12: zone 'cheeks': caution needs 3 lines on the screen"),
    ('caution = "Supercalifragilisticexpialidocious"',
     "12: zone 'cheeks': caution word \"Supercalifragilisticexpialidocious\" is 34 characters"),
    ('caution = "light\\u001b[31m"', "12: zone 'cheeks': caution must be printable text"),
    ("caution = 3", "12: zone 'cheeks': caution must be a string, got 3"),
])
def test_a_bad_caution_names_file_line_and_zone(tmp_path, line, expected):
    path = write(tmp_path, with_caution(line))
    found = problems_of(path)
    assert len(found) == 1 and found[0].startswith(f"{path}:{expected}"), found


def test_the_built_ins_warn_under_the_eyes_and_over_the_throat():
    cautions = {(routine.name, zone.id): zone.caution for routine in load_library(None).routines
                for zone in routine.zones if zone.caution}
    under_eye = {key for key in cautions if key[1] == "under-eye"}
    neck = {key for key in cautions if key[1] == "neck"}
    assert under_eye == {("daily", "under-eye"), ("quick", "under-eye"), ("lymphatic", "under-eye")}
    assert neck == {("daily", "neck"), ("lymphatic", "neck"), ("evening", "neck")}
    assert all("Lightest" in cautions[key] and "bone" in cautions[key] for key in under_eye)
    assert all("throat" in cautions[key] for key in neck)
