"""The person's choices file: kept atomically, and any odd content means the defaults."""

import json

import pytest

from device.settings.choices import Choices, load_choices, save_choices

DEFAULT = Choices(3, "daily")


def test_round_trip(tmp_path):
    path = tmp_path / "choices.json"
    assert save_choices(path, Choices(5, "evening"))
    assert load_choices(path, DEFAULT) == Choices(5, "evening")
    assert [p.name for p in tmp_path.iterdir()] == ["choices.json"]   # no temporary left behind


@pytest.mark.parametrize("text", ["", "{", "[]", '{"intensity": 9, "routine": "x"}',
                                  '{"intensity": "3", "routine": "x"}', '{"routine": "x"}'])
def test_odd_files_mean_defaults(tmp_path, text):
    path = tmp_path / "choices.json"
    path.write_text(text)
    assert load_choices(path, DEFAULT) == DEFAULT


def test_missing_file_means_defaults(tmp_path):
    assert load_choices(tmp_path / "nope.json", DEFAULT) == DEFAULT


def test_failed_write_is_not_raised(tmp_path):
    assert not save_choices(tmp_path / "missing-folder" / "choices.json", DEFAULT)


def test_the_gentle_override_is_kept_and_old_files_lack_it(tmp_path):
    path = tmp_path / "choices.json"
    assert save_choices(path, Choices(4, "quick", overridden=True))
    assert load_choices(path, DEFAULT) == Choices(4, "quick", True)
    path.write_text('{"intensity": 2, "routine": "quick"}')       # written before the gentle start
    assert load_choices(path, DEFAULT) == Choices(2, "quick", False)
    path.write_text('{"intensity": 2, "routine": "quick", "overridden": 1}')
    assert load_choices(path, DEFAULT) == DEFAULT


def test_any_file_on_the_card_gives_choices_a_person_could_make(tmp_path):
    """The card is hostile: whatever the file holds, loading never raises and gives either the
    defaults or a level 1..5, a routine name and a true/false override."""
    from hypothesis import given, settings, strategies as st

    path = tmp_path / "choices.json"
    json_values = st.recursive(st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=False)
                               | st.text(max_size=8),
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=3), max_leaves=8)
    fields = st.fixed_dictionaries({}, optional={"intensity": json_values | st.integers(0, 6),
                                                 "routine": json_values, "overridden": json_values})

    @settings(derandomize=True, deadline=None, max_examples=150)
    @given(st.one_of(fields.map(lambda data: json.dumps(data).encode()),
                     json_values.map(lambda data: json.dumps(data).encode()), st.binary(max_size=40)))
    def loads(raw: bytes) -> None:
        path.write_bytes(raw)
        choices = load_choices(path, DEFAULT)
        assert choices == DEFAULT or (type(choices.intensity) is int and 1 <= choices.intensity <= 5
                                      and isinstance(choices.routine, str) and type(choices.overridden) is bool)

    loads()
