"""The goal's settings: [goal] in the config and the computer's settings, checked alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

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


# Values from the cable are hostile: the checks answer every one, and what they accept is usable.
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                       lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=3), max_leaves=10)
INTERVALISH = st.lists(st.from_regex(r"\d{4}-\d{2}-\d{2}/\d{4}-\d{2}-\d{2}", fullmatch=True), max_size=30)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(JSONISH | INTERVALISH)
def test_any_value_from_the_cable_is_answered_and_accepted_ones_work(value):
    from datetime import date

    if BY_NAME["rest_periods"].problem(value) is None:
        rests = goals.parse_rests(value)
        goals.progress([], 0.0, goals.GoalRules(rests=rests))
        assert goals.resting_until(rests, date(2026, 1, 1)) is None or rests
    if BY_NAME["anchor"].problem(value) is None:
        assert len(value) <= goals.ANCHOR_MAX_CHARS and "\n" not in value
    for name in ("weekly_goal", "week_start", "gentle_sessions"):
        BY_NAME[name].problem(value)
