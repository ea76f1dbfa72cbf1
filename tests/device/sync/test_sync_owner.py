"""Sync protocol 3 (issue 13): the computer reads and changes the person's settings and routines,
and nothing changes until the person answers on the device.

The device is the real `SyncServer` with an `OwnerDesk` on one end of a pty pair, the computer
`companion.owner_client` on the other. The person is the `ask` callback (the acceptance screen,
later) and the client's `wait` between polls: a test answers the question, or lets the
desk's clock run past the minute, at a chosen poll, so nothing depends on the machine's speed.
"""

from __future__ import annotations

import json
import os
import textwrap
import threading
from contextlib import closing
from pathlib import Path

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion import owner_client as owner
from companion import sync_client as host
from companion.hostdb import HostDb
from device.log.sessionlog import SessionLog
from device.settings.config import Config
from device.settings.owner import (ChangeRejected, Owned, PutRoutine, RemoveRoutine, SetOrder, SetSettings,
                                   content_hash, propose)
from device.settings.ownerstore import OwnerStore
from device.settings.routines import BUILTIN_DIR, load_library
from device.sync import ownerproto
from device.sync import protocol as p
from device.sync.frames import Frame, encode
from device.sync.ownerdesk import OwnerDesk, Question
from device.sync.server import SyncServer
from tests.support.sync_testing import PtyLink, ScriptedDevice, record_sessions

OTHERS = list(load_library(None).routines)
EXAMPLES = int(os.environ.get("FACEPACE_HOSTILE_EXAMPLES", "60"))


def routine(title: str, seconds: int = 60, **zone) -> bytes:
    extra = "".join(f"{key} = {value}\n" for key, value in zone.items())
    return textwrap.dedent(f"""\
        title = "{title}"

        [[zones]]
        id = "cheeks"
        title = "Cheeks"
        cue = "Circles"
        seconds = {seconds}
        tempo = 30
        intensity = 3
        sides = 1
        """).encode() + extra.encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Person:
    """Sees each question the device asks; answers it at the poll a test chooses."""

    def __init__(self) -> None:
        self.questions: list[Question] = []
        self.asked = threading.Event()

    def ask(self, question: Question) -> None:
        self.questions.append(question)
        self.asked.set()


class Rig:
    def __init__(self, tmp_path: Path, link: PtyLink, **desk_options) -> None:
        self.clock, self.person, self.in_session = Clock(), Person(), False
        self.store = OwnerStore(tmp_path / "owner")
        self.changes: list[Owned] = []
        self.desk = OwnerDesk(self.store, base=Config(), others=OTHERS, ask=self.person.ask,
                              in_session=lambda: self.in_session, on_change=self.changes.append,
                              monotonic=self.clock, **desk_options)
        self.log = SessionLog.open(tmp_path / "device" / "sessions.db", clock_synced=lambda: True)
        record_sessions(self.log, 2)
        self.server = SyncServer(link.device_port, self.log, owner=self.desk, reopen_delay=0.05).start()
        assert self.server.serving.wait(60)
        self.port = host.open_device(link.host_port)
        self.device = owner.connect(host.Link(self.port, timeout=5))
        self.states: list[str] = []

    def propose(self, change, *, answer=None, at_poll: int = 1, wait=None) -> ownerproto.ChangeState:
        polls = []

        def person_waits(_seconds: float) -> None:
            polls.append(1)
            if wait is not None:
                wait(len(polls))
            if answer is not None and len(polls) == at_poll:
                assert self.person.asked.wait(60)
                getattr(self.person.questions[-1], answer)()

        return owner.propose(self.device, change, on_state=lambda state: self.states.append(state.state),
                             wait=person_waits)

    def close(self) -> None:
        self.port.close()
        self.server.close()
        self.log.close()


@pytest.fixture
def rig(tmp_path):
    with PtyLink() as link:
        made = Rig(tmp_path, link)
        yield made
        made.close()


def test_a_pushed_routine_is_stored_only_once_the_person_presses(rig):
    data = routine("Evening calm", 360)
    final = rig.propose(PutRoutine("evening-calm", data), answer="accept", at_poll=2)
    assert rig.states == ["asking", "accepted"]
    assert rig.person.questions[0].prompt == "Add routine 'Evening calm' 6:00"
    assert rig.store.load().owned.routines == {"evening-calm": data}
    assert rig.changes == [rig.store.load().owned]
    view = owner.read_owner(rig.device)
    mine = [info for info in view.routines if info.name == "evening-calm"]
    assert [(info.origin, info.hash, info.seconds) for info in mine] == [("own", content_hash(data), 360)]
    assert view.order[-1] == "evening-calm" and view.order[0] == "daily"
    assert owner.read_routine(rig.device, "evening-calm") == data
    assert owner.read_routine(rig.device, "quick") == (BUILTIN_DIR / "quick.toml").read_bytes()
    # The same content again: said so, nothing asked, nothing written.
    assert rig.propose(PutRoutine("evening-calm", data)).state == "unchanged"
    assert len(rig.person.questions) == 1 and len(rig.changes) == 1


def test_a_hold_refuses_and_nothing_changes(rig):
    final = rig.propose(PutRoutine("mine", routine("Mine")), answer="refuse")
    assert (final.state, rig.states) == ("refused", ["asking", "refused"])
    assert rig.store.load().owned == Owned() and rig.changes == []


def test_no_answer_within_a_minute_of_idle_drops_the_change(rig):
    final = rig.propose(SetSettings((("haptics", False),)), wait=lambda poll: setattr(rig.clock, "now",
                                                                                      rig.clock.now + 25))
    assert final.state == "timed_out" and "within 60 s" in final.message
    assert rig.person.questions[0].withdrawn and not rig.person.questions[0].accept()   # too late
    assert rig.store.load().owned == Owned()


def test_a_push_during_a_session_waits_for_it_and_the_computer_is_told(rig):
    rig.in_session = True

    def session_then_press(poll: int) -> None:
        if poll < 3:
            rig.clock.now += 100      # a long session: the person's minute has not started
        elif poll == 3:
            rig.in_session = False    # the summary is done
        else:
            rig.clock.now += 25       # then the person takes 50 s to press

    final = rig.propose(PutRoutine("mine", routine("Mine")), answer="accept", at_poll=5, wait=session_then_press)
    assert rig.states == ["busy", "asking", "accepted"] and final.state == "accepted"
    assert "mine" in rig.store.load().owned.routines


def test_an_accepted_change_waits_for_the_end_of_a_session_that_began_before_it_was_stored(rig):
    def press_then_session(poll: int) -> None:
        if poll == 1:
            rig.person.asked.wait(60)
            rig.person.questions[-1].accept()
            rig.in_session = True
        if poll == 3:
            rig.in_session = False

    final = rig.propose(PutRoutine("mine", routine("Mine")), wait=press_then_session)
    assert rig.states == ["asking", "busy", "accepted"] and final.state == "accepted"


@pytest.mark.parametrize(("change", "expected"), [
    (PutRoutine("bad", routine("Bad", seconds=1)), ["bad.toml:7: zone 'cheeks': seconds must be 5..600, got 1"]),
    (PutRoutine("../etc/passwd", routine("x")), ['"../etc/passwd": a routine name is 1..32 lowercase']),
    (SetSettings((("dim_after", 1), ("time_zone", "Mars/Olympus"))),
     ["settings.toml:2: dim_after must be 5..3600, got 1",
      'settings.toml:3: time_zone must be a time zone this device knows']),
    (RemoveRoutine("daily"), ["'daily' is built in: it cannot be removed"]),
    (SetOrder(("quick", "nope")), ["settings.toml: routine_order names 'nope'"]),
])
def test_a_change_that_fails_the_checks_comes_back_with_file_line_and_nothing_changes(rig, change, expected):
    final = rig.propose(change)
    assert final.state == "rejected" and rig.person.questions == []
    assert len(final.problems) == len(expected)
    for problem, start in zip(final.problems, expected):
        assert problem.startswith(start), problem
    assert rig.store.load() .owned == Owned() and not (rig.store.folder / "pointer.json").exists()


def test_over_the_size_limit_the_device_does_not_even_decode_it(rig):
    import base64
    big = routine("Big") + b"#" * (16 * 1024 - len(routine("Big")) + 1)    # one byte over
    answer = ownerproto.decode_change(rig.device.link.request(
        p.STAGE, p.CHANGE, change="put_routine", name="big", toml=base64.b64encode(big).decode()))
    assert (answer.state, answer.problems) == ("rejected", ("big.toml: too large: 16385 bytes, a routine is at"
                                                            " most 16 KiB",))
    huge = base64.b64encode(routine("Huge") + b"#" * 16_500).decode()
    with pytest.raises(host.DeviceRefused, match="'toml' must be base64 of at most 16384 bytes"):
        rig.device.link.request(p.STAGE, p.CHANGE, change="put_routine", name="huge", toml=huge)
    with pytest.raises(host.SyncError, match="huge.toml is 36121 bytes: the device takes routines of at most 16 KiB"):
        owner.stage(rig.device, PutRoutine("huge", routine("Huge") + b"#" * 36_000))
    assert rig.person.questions == []


def test_remove_order_settings_and_time_zone(rig):
    rig.propose(PutRoutine("mine", routine("Mine")), answer="accept")
    assert rig.propose(SetOrder(("mine", "quick")), answer="accept").state == "accepted"
    assert owner.read_owner(rig.device).order == ("mine", "quick")
    assert rig.propose(SetSettings((("haptics", False), ("dim_after", 90))), answer="accept").state == "accepted"
    assert rig.propose(SetSettings((("time_zone", "Europe/Paris"),)), answer="accept").state == "accepted"
    assert rig.person.questions[-1].prompt == "Set time_zone Europe/Paris"
    view = owner.read_owner(rig.device)
    assert view.overridden == ("haptics", "dim_after", "routine_order", "time_zone")
    assert (view.settings["haptics"], view.settings["dim_after"], view.settings["off_after"]) == (False, 90, 300)
    assert view.settings_hash == content_hash(rig.store.load().owned.settings_bytes)
    assert rig.propose(RemoveRoutine("mine"), answer="accept").state == "accepted"
    assert owner.read_owner(rig.device).order == ("quick",)
    assert rig.store.load().owned.routines == {}


def test_one_change_at_a_time_and_a_re_sent_stage_is_not_asked_twice(rig):
    first = owner.stage(rig.device, PutRoutine("one", routine("One")))
    again = owner.stage(rig.device, PutRoutine("one", routine("One")))
    assert (first.state, again.change_id) == ("asking", first.change_id)
    with pytest.raises(host.DeviceRefused, match="another change is waiting") as refused:
        owner.stage(rig.device, PutRoutine("two", routine("Two")))
    assert refused.value.code == p.E_PENDING
    assert len(rig.person.questions) == 1
    rig.person.questions[0].accept()
    assert owner.decision(rig.device, first.change_id).state == "accepted"
    assert owner.stage(rig.device, PutRoutine("two", routine("Two"))).state == "asking"


def test_the_computer_going_away_withdraws_the_question(rig):
    staged = owner.stage(rig.device, PutRoutine("one", routine("One")))
    assert staged.state == "asking"
    owner.bye(rig.device)
    assert rig.person.questions[0].withdrawn
    assert rig.store.load().owned == Owned()


# --- Versions -----------------------------------------------------------------------------

class Version2Device(ScriptedDevice):
    """A device of the last firmware: HELLO in any other version gets its version message."""

    def _answer(self, kind: int, request: dict) -> bytes:
        if kind == p.HELLO and request.get("protocol") != 2:
            return self._frame(p.ERROR, request, {
                "code": p.E_VERSION, "message": f"the device speaks sync protocol 2, the computer"
                                                f" {request.get('protocol')}: update facepace on the device"})
        if kind in p.OWNER_REQUESTS:
            return self._frame(p.ERROR, request, {"code": p.E_UNKNOWN_TYPE, "message": "not accepted"})
        return super()._answer(kind, request)


def test_a_version_3_computer_syncs_a_version_2_device_and_says_changing_it_needs_an_update(tmp_path):
    from tests.device.sync.test_sync_hostile_device import batch, honest_session, welcome

    device_args = dict(welcome=welcome(2, protocol=2), batches=[batch([honest_session(1), honest_session(2)])])
    with PtyLink() as link, Version2Device(link.device_port, **device_args) as device:
        with HostDb.open(tmp_path / "host.db") as db, closing(host.open_device(link.host_port)) as port:
            assert host.sync(port, db, timeout=5).new == 2
        with closing(host.open_device(link.host_port)) as port:
            old = owner.connect(host.Link(port, timeout=5))
            assert not old.changeable
            with pytest.raises(owner.NeedsFirmwareUpdate, match="speaks sync protocol 2: changing its settings"
                                                              " and routines needs a firmware update"):
                owner.read_owner(old)
    assert device.acks == [2]


def test_a_version_2_computer_gets_the_version_message(rig):
    link = rig.device.link
    with pytest.raises(host.DeviceRefused, match="the device speaks sync protocol 3, the computer 2:"
                                                 " update facepace on this computer"):
        link.request(p.HELLO, p.WELCOME, protocol=2, host_id="old")


def test_a_device_without_a_store_says_so(tmp_path):
    with PtyLink() as link, SessionLog.open(tmp_path / "sessions.db", clock_synced=lambda: True) as log, \
            SyncServer(link.device_port, log, reopen_delay=0.05) as server:
        assert server.serving.wait(60)
        with closing(host.open_device(link.host_port)) as port:
            device = owner.connect(host.Link(port, timeout=5))
            with pytest.raises(host.DeviceRefused, match="cannot take settings or routines now"):
                owner.read_owner(device)


# --- Hostile input ----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
stage_bodies = st.fixed_dictionaries({"change": st.sampled_from(ownerproto.CHANGE_KINDS) | json_values}, optional={
    "name": st.sampled_from(["quick", "mine", "../x", ""]) | json_values,
    "toml": st.sampled_from([routine("T").decode(), "!!", ""]).map(
        lambda text: __import__("base64").b64encode(text.encode()).decode()) | json_values,
    "names": st.lists(st.sampled_from(["quick", "daily", "x"]) | st.text(max_size=5), max_size=5) | json_values,
    "values": st.dictionaries(st.sampled_from(["haptics", "dim_after", "time_zone", "pin", "routine_order"])
                              | st.text(max_size=5), json_values, max_size=4) | json_values,
    "time_zone": st.sampled_from(["Europe/Paris", "../../etc/passwd", "UTC"]) | json_values,
    "change_id": json_values,
})


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(stage_bodies)
def test_hostile_stage_requests_end_as_a_code_or_file_line_messages(body):
    """Whatever a host sends: a ProtocolError (an ERROR reply), or a change that `propose`
    accepts, finds unchanged, or rejects with messages; never another exception."""
    try:
        change = ownerproto.decode_stage(body)
    except p.ProtocolError as error:
        assert error.code == p.E_BAD_PAYLOAD
        return
    try:
        propose(Owned(), change, base=Config(), others=OTHERS)
    except ChangeRejected as rejected:
        assert rejected.lines and all(isinstance(line, str) and line for line in rejected.lines)


def test_hostile_owner_requests_on_the_port_change_nothing_and_the_device_keeps_answering(rig):
    """Framed STAGE, DECISION and READ_ROUTINE requests of any content, with noise: the next
    honest request is answered, and nothing is stored without the person's press."""
    def frame(kind, body) -> bytes:
        return encode(kind, json.dumps(body, default=str).encode())

    pieces = st.one_of(
        st.builds(lambda body: frame(p.STAGE, body), stage_bodies),
        st.builds(lambda body: frame(p.DECISION, body), st.fixed_dictionaries({"rid": json_values,
                                                                               "change_id": json_values})),
        st.builds(lambda body: frame(p.READ_ROUTINE, body), st.fixed_dictionaries({"rid": json_values,
                                                                                   "name": json_values})),
        st.binary(max_size=64))

    @settings(max_examples=max(10, EXAMPLES // 2), derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(pieces, min_size=1, max_size=6).map(b"".join))
    def honest_request_after(stream):
        rig.device.link.port.write(stream)
        assert ownerproto.decode_owner(rig.device.link.request(p.READ_OWNER, p.OWNER)).order[0] == "daily"

    honest_request_after()
    assert rig.store.load().owned == Owned() and not (rig.store.folder / "pointer.json").exists()
    assert rig.server.serving.is_set()


device_bodies = st.dictionaries(
    st.sampled_from(["settings", "overridden", "settings_hash", "routines", "order", "name", "hash", "toml",
                     "change_id", "state", "problems", "message"]), json_values, max_size=8)


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(device_bodies, st.sampled_from(["owner", "routine", "change"]))
def test_hostile_device_replies_end_as_protocol_errors(body, kind):
    try:
        if kind == "owner":
            ownerproto.decode_owner(body)
        elif kind == "routine":
            ownerproto.decode_routine(body, "quick")
        else:
            ownerproto.decode_change(body)
    except p.ProtocolError as error:
        assert error.code == p.E_BAD_PAYLOAD and str(error).startswith(("OWNER:", "ROUTINE:", "CHANGE:"))


def test_an_honest_device_s_replies_decode_to_what_it_meant(tmp_path):
    data = routine("Mine")
    desk = OwnerDesk(OwnerStore(tmp_path), base=Config(), others=OTHERS, ask=lambda question: None)
    view = desk.view()
    sent = json.loads(ownerproto.owner_reply(1, view)[11:-4])
    assert ownerproto.decode_owner(sent) == view
    assert ownerproto.decode_routine(json.loads(ownerproto.routine_reply(2, "mine", data)[11:-4]), "mine") == data
    flipped = json.loads(ownerproto.routine_reply(2, "mine", data)[11:-4])
    flipped["hash"] = content_hash(b"other")
    with pytest.raises(p.ProtocolError, match="does not match its hash"):
        ownerproto.decode_routine(flipped, "mine")



def test_a_new_computer_s_stage_with_an_old_request_id_is_not_taken_for_a_re_send(tmp_path):
    """Two `facepace routines push` started within the same second pick the same request ids."""
    person = Person()
    desk = OwnerDesk(OwnerStore(tmp_path), base=Config(), others=OTHERS, ask=person.ask)
    stage = ownerproto.stage_request(PutRoutine("one", routine("One")))

    def state(reply: bytes) -> str:
        return json.loads(reply[11:-4])["state"]

    assert state(desk.answer(p.Message(p.STAGE, {"rid": 5, **stage}), 5)) == "asking"
    person.questions[0].accept()
    assert state(desk.answer(p.Message(p.DECISION, {"rid": 6, "change_id": 1}), 6)) == "accepted"
    assert state(desk.answer(p.Message(p.STAGE, {"rid": 5, **stage}), 5)) == "accepted"   # a re-send
    desk.hang_up()   # that computer left; the next one starts its ids at the same number
    assert state(desk.answer(p.Message(p.STAGE, {"rid": 5, **stage}), 5)) == "unchanged"
    assert len(person.questions) == 1


def test_a_card_that_refuses_the_write_leaves_the_device_as_it_was_and_says_why(tmp_path):
    (tmp_path / "owner").write_text("a file where the store's folder should be")
    person = Person()
    desk = OwnerDesk(OwnerStore(tmp_path / "owner"), base=Config(), others=OTHERS, ask=person.ask)
    stage = ownerproto.stage_request(PutRoutine("one", routine("One")))
    desk.answer(p.Message(p.STAGE, {"rid": 1, **stage}), 1)
    person.questions[0].accept()
    answer = json.loads(desk.answer(p.Message(p.DECISION, {"rid": 2, "change_id": 1}), 2)[11:-4])
    assert answer["state"] == "failed" and answer["message"].startswith("the device could not store it")
    assert desk.owned == Owned()
