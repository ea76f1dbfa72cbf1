"""The goal's settings: [goal] in the config and the computer's settings, checked alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.base.errors import ConfigError
from device.log import goals
from device.settings import config as config_module
from device.settings.owner import ChangeRejected, parse_settings
from device.settings.settable import BY_NAME


def test_goal_section_problems_name_file_line_and_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[goal]\nweekly_goal = 0\nweek_start = "Monday"\ngentle_sessions = 31\n'
                    'anchor = "After brushing my teeth"\n')
    with pytest.raises(ConfigError) as raised:
        config_module.load_config(path)
    assert [(p.line, p.key) for p in raised.value.problems] == [
        (2, ("goal", "weekly_goal")), (3, ("goal", "week_start")), (4, ("goal", "gentle_sessions")),
        (5, ("goal", "anchor"))]
    assert str(raised.value.problems[3]) == (f"{path}:5: [goal] anchor must be at most 21 characters "
                                             "(one line of the screen), got 23")


def test_the_defaults_written_out_read_back(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(config_module.as_toml(config_module.Config()))
    assert config_module.load_config(path).goal == config_module.GoalConfig()


def test_computer_settings_are_checked_with_their_lines():
    raw = b'weekly_goal = 4\nweek_start = "sunday"\nrest_periods = ["2026-12-01/2026-12-14"]\nanchor = ""\n'
    assert parse_settings(raw, Path("settings.toml")) == {
        "weekly_goal": 4, "week_start": "sunday", "rest_periods": ["2026-12-01/2026-12-14"], "anchor": ""}
    with pytest.raises(ChangeRejected) as raised:
        parse_settings(b'weekly_goal = 4\nrest_periods = ["2026-12-14/2026-12-01"]\n', Path("settings.toml"))
    assert raised.value.lines == ["settings.toml:2: rest_periods must hold rest periods of 1..366 days, "
                                  'first day first, got "2026-12-14/2026-12-01"']


def test_settings_show_says_what_is_allowed():
    assert BY_NAME["weekly_goal"].allowed == "1..7"
    assert BY_NAME["anchor"].allowed == 'a phrase of at most 21 characters, or ""'
    assert "rest_days=N" in BY_NAME["rest_periods"].allowed


def test_rules_from_the_settings():
    rules = goals.rules_from(config_module.GoalConfig(weekly_goal=3, week_start="sunday"),
                             time_zone="Pacific/Auckland", rest_periods=["2026-12-01/2026-12-14"])
    assert (rules.weekly_goal, rules.week_start, str(rules.tz)) == (3, 6, "Pacific/Auckland")
    assert rules.rests == (goals.Rest(goals.date(2026, 12, 1), goals.date(2026, 12, 14)),)
