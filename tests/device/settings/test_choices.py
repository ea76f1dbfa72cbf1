"""The person's choices file: kept atomically, and any odd content means the defaults."""

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
