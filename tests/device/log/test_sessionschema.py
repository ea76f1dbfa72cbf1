"""The rules of a finished session: honest edge values pass, and no field can go without a rule."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from device.log import sessionschema
from device.log.logdb import SessionRecord, ZoneProgress
from device.log.sessionschema import FieldProblem, Rule, finished_session, record_values
from device.log.sessionlog import SessionLog
from tests.support.sync_testing import record_sessions

EDGES = SessionRecord(
    id="s-1", device_id="dev", routine_name="my routine (v2) ☀", routine_hash="0" * 64, intensity=5,
    wall_start=0.0,                 # a Pi that booted without a clock and never synced
    wall_trusted=False, boot_id="unknown", mono_start=-7000.5,   # another clock's reading
    active_seconds=0.0, outcome="interrupted", wall_end=None, wall_checkpoint=None,
    mono_end=None,                  # recorded before the device kept it
    seq=1, zones=(ZoneProgress("under_eye", 600.0, 0.0, True),))


def test_what_an_honest_device_can_write_is_accepted():
    assert finished_session(record_values(EDGES)) == EDGES


def test_every_session_a_real_log_records_is_accepted(tmp_path):
    with SessionLog.open(tmp_path / "sessions.db", clock_synced=lambda: False) as log:
        record_sessions(log, 8, first_wall=3_600.0)    # 1970: an untrusted clock
        for record in log.sessions():
            assert finished_session(record_values(record)) == record


@pytest.mark.parametrize("field, value, problem", [
    ("active_seconds", math.nan, "must be a finite number, got nan"),
    ("wall_start", 4_102_444_801.0, "must be a number 0.0..4102444800.0, got 4102444801.0"),
    ("mono_end", "65", "must be a number, got '65'"),     # may be null, never text
    ("seq", None, "missing"),                # may be empty while open, never once finished
    ("outcome", None, "missing"),
    ("wall_trusted", 1, "must be true or false, got 1"),
    ("boot_id", "a\tb", "must not hold control characters, got 'a\\tb'"),
    ("routine_name", "", "must be text of 1..255 characters, got 0"),
    ("zones", [["Neck!", 60.0, 60.0, False]], "zones[0].zone_id: must match"),
])
def test_a_wrong_field_is_named_with_what_is_wrong(field, value, problem):
    values = record_values(EDGES)
    values[field] = value
    with pytest.raises(FieldProblem) as raised:
        finished_session(values)
    assert str(raised.value).startswith(f"field {problem}" if problem.startswith("zones") else
                                        f"field {field}: {problem}")


def test_a_record_field_without_a_rule_stops_the_import():
    @dataclass
    class Grown:
        id: str
        mood: str | None = None

    with pytest.raises(RuntimeError, match=r"Grown fields and their rules differ: \['mood'\]"):
        sessionschema.kinds_of(Grown, {"id": Rule(length=64)})
    assert [f.name for f in dataclasses.fields(SessionRecord)] == list(sessionschema.SESSION_KINDS)


# Values of every kind JSON gives, and the edges of the rules' ranges.
json_scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats()
                | st.sampled_from([0, 1, 5, 6, -1, 86_400, 86_400.5, 4_102_444_800, 2**62, 2**62 + 1, 1e12])
                | st.text(max_size=70) | st.sampled_from(["", "neck", "Neck!", "a\tb", "completed", "x" * 65]))
json_values = json_scalars | st.lists(json_scalars, max_size=5)
every_rule = [(name, kind, rules[name], nullable)
              for kinds, rules in ((sessionschema.SESSION_KINDS, sessionschema.SESSION_RULES),
                                   (sessionschema.ZONE_KINDS, sessionschema.ZONE_RULES))
              for name, (kind, nullable) in kinds.items()]


@settings(derandomize=True, deadline=None, max_examples=400)
@given(rule=st.sampled_from(every_rule), value=json_values)
def test_a_fields_quick_check_takes_exactly_what_checked_takes(rule, value):
    """The checks a sync runs on every field (`checker`) give what `checked` gives, and refuse
    what it refuses, with its message."""
    name, kind, field_rule, nullable = rule
    outcomes = []
    for check in (sessionschema.checker(name, kind, field_rule, nullable=nullable),
                  lambda v: sessionschema.checked(name, v, kind, field_rule, nullable=nullable)):
        try:
            result = check(value)
            outcomes.append(("taken", type(result), result))
        except FieldProblem as problem:
            outcomes.append(("refused", str(problem)))
    assert outcomes[0] == outcomes[1]
