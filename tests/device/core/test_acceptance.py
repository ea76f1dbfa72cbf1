"""The acceptance screen (issue 13) on simulated parts and the virtual clock: a change from the
computer arrives on the loop's inbox as `ChangeAsked` (the real `Question` of the sync's desk
answers it), a press accepts, a hold refuses, a minute drops it; an accepted change arrives as
`SettingsChanged` and takes effect in idle. Assertions are on the question's answer, the
trace's instants and the glass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from device.core.events import ChangeAsked
from device.core.owned import OWNER_FOLDER, in_use
from device.screen.screens import notice_pages, render
from device.screen.views import QuestionView
from device.settings.config import Config
from device.settings.owner import Owned
from device.settings.ownerstore import OwnerStore
from device.settings.routines import load_library
from device.sim.simulator import Simulator
from device.sim.trace import read_trace
from device.sync.ownerdesk import Question
from tests.conftest import same_pixels
from tests.support.toml_documents import EVENING_CALM

BUILT_IN = list(load_library(None).routines)
MINE = EVENING_CALM.encode()


@pytest.fixture
def make_sim(tmp_path):
    made = []

    def make(config=Config(), **options):
        sim = Simulator(config, list(BUILT_IN), state_dir=tmp_path / "state",
                        trace_path=tmp_path / f"trace{len(made)}.jsonl", **options)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


def events(sim, *names):
    sim.trace.close()
    return [e for e in read_trace(sim.trace_path) if not names or e["event"] in names]


def run_to(sim, seconds):
    sim.clock.call_at(seconds, lambda: None)
    sim.app.run(sim.events, until=lambda: sim.clock.now() >= seconds)


def ask_at(sim, seconds, prompt="Add routine 'Evening calm' 6:00") -> Question:
    question = Question(prompt)
    sim.clock.call_at(seconds, lambda: sim.events.put(ChangeAsked(question.prompt, question.settle)))
    return question


def test_the_question_shows_and_a_press_accepts(make_sim, reference_image):
    sim = make_sim()
    question = ask_at(sim, 5.0)
    run_to(sim, 5.5)
    assert sim.app.state == "asking"
    assert same_pixels(sim.bus.image(), render(QuestionView("Add routine 'Evening calm' 6:00", 59.5)))
    reference_image("question", sim.bus.image())
    sim.schedule(7.0, "press")
    run_to(sim, 8.0)
    assert question.answer is True and sim.app.state == "idle"
    assert [(e["answer"], e["in_time"], e["t"]) for e in events(sim, "answer")] == [(True, True, 7.12)]


def test_a_press_under_way_or_in_the_first_second_does_not_say_yes(make_sim):
    sim = make_sim()
    question = ask_at(sim, 5.0)
    sim.schedule(4.95, "press")   # meant for the idle screen: its release comes after the question
    sim.schedule(5.6, "press")    # before the person can have read it
    run_to(sim, 8.0)
    assert question.answer is None and sim.app.state == "asking" and not events(sim, "session_start")


def test_a_hold_refuses_and_the_hold_going_on_does_not_power_off(make_sim):
    sim = make_sim()
    question = ask_at(sim, 5.0)
    sim.clock.call_at(7.0, sim.button.pin.drive_low)
    sim.clock.call_at(20.0, sim.button.pin.drive_high)
    run_to(sim, 21.0)
    assert question.answer is False and sim.app.state == "idle"
    assert [e["t"] for e in events(sim, "answer")] == [8.5] and not events(sim, "power_off")


def test_no_answer_within_a_minute_drops_it_at_that_instant(make_sim):
    sim = make_sim()
    question = ask_at(sim, 5.0)
    run_to(sim, 64.9)
    assert sim.app.state == "asking"
    run_to(sim, 70.0)
    assert question.withdrawn and not question.accept() and sim.app.state == "idle"
    assert [(e["answer"], e["t"]) for e in events(sim, "answer")] == [(None, 65.0)]


def test_a_question_in_a_session_waits_until_the_summary_is_done(make_sim):
    sim = make_sim(Config().__class__(timeouts=Config().timeouts.__class__(summary_return=5)))
    sim.schedule(1.0, "press")       # start
    question = ask_at(sim, 3.0)
    sim.schedule(10.0, "hold")       # end early: the summary until 11.5 + 5
    run_to(sim, 16.4)
    assert sim.app.state == "summary" and question.answer is None
    run_to(sim, 17.0)
    assert sim.app.state == "asking"
    assert [e["t"] for e in events(sim, "question")] == [16.5]


def test_an_accepted_change_takes_effect_in_idle_and_the_double_press_reaches_it(make_sim):
    sim = make_sim()
    settings = in_use(Config(), BUILT_IN, Owned({"haptics": False, "dim_after": 20},
                                                {"evening-calm": MINE})).settings
    sim.schedule(1.0, "press")          # a session is on when the change is stored
    sim.clock.call_at(2.0, lambda: sim.events.put(settings))
    run_to(sim, 3.0)
    assert len(sim.app.routines) == 4 and sim.app.haptics.enabled
    sim.schedule(5.0, "hold")           # the session ends; the change applies once it is idle
    run_to(sim, 6.6)
    assert len(sim.app.routines) == 4
    sim.schedule(7.0, "press")          # dismiss the summary
    run_to(sim, 8.0)
    assert [r.name for r in sim.app.routines][-1] == "evening-calm" and not sim.app.haptics.enabled
    assert sim.app.timeouts.dim_after == 20
    for at in (10.0, 12.0, 14.0, 16.0):
        sim.schedule(at, "double")
    run_to(sim, 17.0)
    assert sim.app.routine.title == "Evening calm"
    assert sim.app.view(sim.clock.now()).routine_title == "Evening calm"


def test_the_device_starts_on_the_stored_settings_or_says_it_fell_back(make_sim, tmp_path):
    store = OwnerStore(tmp_path / "state" / OWNER_FOLDER)
    store.save(Owned({"haptics": False, "routine_order": ["quick"]}, {}))
    sim = make_sim()
    assert not sim.app.haptics.enabled and [r.name for r in sim.app.routines] == ["quick"]
    sim.close()
    current = store.save(Owned({"intensity": 5}, {}))
    (store.folder / current / "settings.toml").write_text("intensity = 1\n")   # damaged: its hash differs
    sim = make_sim()
    assert not sim.app.haptics.enabled and [r.name for r in sim.app.routines] == ["quick"]
    run_to(sim, 1.0)
    said = notice_pages("Started on the last good settings")[0]
    assert same_pixels(sim.bus.image(), render(sim.app.view(sim.clock.now()), error=said))


def test_a_rotation_from_the_computer_turns_the_picture(make_sim):
    sim = make_sim()
    settings = in_use(Config(), BUILT_IN, Owned({"rotation": 180}, {})).settings
    run_to(sim, 1.0)
    upright = sim.bus.image()
    sim.events.put(settings)
    run_to(sim, 2.0)            # the same screen, sent again turned
    assert same_pixels(sim.bus.image(), upright.transpose(Image.Transpose.ROTATE_180))


def test_the_time_zone_moves_the_day_a_session_counts_for_not_its_utc_time(tmp_path):
    from device.log.recording import SessionRecorder
    from device.log.sessionlog import SessionLog
    from tests.support.sync_testing import ZONES

    evening_utc = 1_717_000_000.0 - 1_717_000_000.0 % 86400 + 20 * 3600   # 20:00 UTC
    now = [evening_utc + 5 * 3600]   # 01:00 UTC the next day; 10:00 in Tokyo, where the session was at 05:00
    log = SessionLog.open(tmp_path / "sessions.db", wall_time=lambda: now[0], clock_synced=lambda: True)
    session = log.begin("daily", "sha256:x", 3, ZONES, mono_start=0.0, wall_start=evening_utc)
    log.finish(session, "completed", [], active_seconds=480.0, wall_end=evening_utc + 480, mono_end=480.0)
    recorder = SessionRecorder(log, wall_time=lambda: now[0], threaded=False)
    recorder.use_time_zone("Etc/UTC")
    assert recorder.overview_now().last_session_text.startswith("Yesterday")
    recorder.use_time_zone("Asia/Tokyo")
    assert recorder.overview_now().last_session_text.startswith("Today")
    assert [record.wall_start for record in log.sessions()] == [evening_utc]   # kept in UTC
    recorder.close()


def test_routines_from_a_usb_stick_are_checked_and_asked_like_a_push(tmp_path, caplog):
    from device.core.assemble import assemble
    from device.core.clock import VirtualClock
    from device.core.parts import simulated_parts
    from device.service.export import take_routines
    from device.settings.config import SyncConfig

    stick = tmp_path / "stick" / "facepace" / "routines"
    stick.mkdir(parents=True)
    (stick / "evening-calm.toml").write_bytes(MINE)
    (stick / "broken.toml").write_bytes(MINE.replace(b"seconds = 360", b"seconds = 1"))
    (stick / "My Routine.toml").write_bytes(MINE)
    (stick / "big.toml").write_bytes(b"#" * 40_000)
    (stick / "link.toml").symlink_to(tmp_path / "state" / "choices.json")   # no way off the stick
    os.mkfifo(stick / "pipe.toml")                                          # nor a read that never ends
    inbox = tmp_path / "run" / "import"
    (tmp_path / "run").mkdir()
    assert take_routines(tmp_path / "stick", inbox) == 4
    assert (inbox / "big.toml").stat().st_size == 16 * 1024 + 1 and not (inbox / "link.toml").exists()

    config, clock = Config(sync=SyncConfig(port=str(tmp_path / "no-port"))), VirtualClock()
    parts = simulated_parts(config, clock, state_dir=tmp_path / "state")
    traced = []
    with assemble(config, list(BUILT_IN), parts, serve_sync=True, stick_inbox=inbox,
                  traces=[lambda event, **fields: traced.append((event, fields))]) as device:
        device.run(until=lambda: any(event == "question" for event, _ in traced) or clock.now() > 60)
        question = next(fields for event, fields in traced if event == "question")
        assert question["prompt"] == "Add routine 'Evening calm' 6:00"
        assert sorted(path.name for path in inbox.iterdir()) == ["evening-calm.toml"]
        said = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Not taken")]
        assert said == ['Not taken from the stick: "My Routine": a routine name is 1..32 lowercase letters,'
                        " digits and - (the file name without .toml)",
                        "Not taken from the stick: big.toml: too large: 16385 bytes, a routine is at most 16 KiB",
                        "Not taken from the stick: broken.toml:7: zone 'cheeks': seconds must be 5..600, got 1"]
        button = parts.pins.pin(config.button.pin)
        clock.call_at(question["at"] + 1.5, button.drive_low)
        clock.call_at(question["at"] + 1.62, button.drive_high)
        device.run(until=lambda: any(event == "settings" for event, _ in traced) or clock.now() > 120)
        assert [r.name for r in device.app.routines][-1] == "evening-calm"
    assert OwnerStore(tmp_path / "state" / OWNER_FOLDER).load().owned.routines == {"evening-calm": MINE}
    assert not list(inbox.iterdir())


def test_the_desk_asks_through_the_inbox_and_a_new_default_intensity_is_sent_only_when_it_changed(tmp_path):
    import queue

    from device.core.clock import VirtualClock
    from device.core.events import SettingsChanged
    from device.core.owned import Settings, owner_desk
    from device.settings.owner import SetSettings

    inbox, clock = queue.SimpleQueue(), VirtualClock()
    desk = owner_desk(Settings(Config(), BUILT_IN, tmp_path, running_on=Config()), events=inbox, clock=clock,
                      busy=lambda: False)
    sent = []

    def settle(change, answer=True):
        desk.offer(change)
        asked = inbox.get_nowait()
        assert isinstance(asked, ChangeAsked) and asked.answer(answer)
        desk.tick()
        sent.extend(inbox.get_nowait() for _ in range(inbox.qsize()))

    settle(SetSettings((("intensity", 5),)))
    settle(SetSettings((("haptics", False),)))
    settle(SetSettings((("dim_after", 30),)), answer=False)
    assert [type(event) for event in sent] == [SettingsChanged, SettingsChanged]
    assert [(event.intensity, event.haptics) for event in sent] == [(5, True), (None, False)]


@settings(max_examples=30, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.text(alphabet="abcXYZ-_. 0189", min_size=1, max_size=40),
                          st.one_of(st.binary(max_size=300), st.just(MINE),
                                    st.sampled_from([MINE.replace(b"360", b"1"), MINE + b"\xff", b"title = 3\n"]))),
                max_size=4, unique_by=lambda item: item[0]))
@example([("calm", MINE), ("up.down", MINE), ("Big", MINE)])
def test_a_hostile_stick_changes_nothing_but_what_passes_the_checks_and_is_accepted(tmp_path_factory, files):
    import queue

    from device.core.clock import VirtualClock
    from device.core.owned import Settings, StickInbox, owner_desk
    from device.settings.owner import ChangeRejected, check_routine

    root = tmp_path_factory.mktemp("stick")
    inbox = root / "inbox"
    inbox.mkdir()
    for name, data in files:
        (inbox / f"{name}.toml").write_bytes(data)
    events, clock = queue.SimpleQueue(), VirtualClock()
    desk = owner_desk(Settings(Config(), BUILT_IN, root, running_on=Config()), events=events, clock=clock,
                      busy=lambda: False)
    stick = StickInbox(inbox, desk, events.put, clock=clock)
    for second in range(3 * len(files) + 2):
        clock.advance_to(float(second))
        stick.poll(clock.now())
        while not events.empty():
            event = events.get_nowait()
            if isinstance(event, ChangeAsked):
                event.answer(True)
    def passes(name: str, data: bytes) -> bool:
        try:
            return bool(check_routine(name, data))
        except ChangeRejected:
            return False

    # Everything the person accepted that passes the checks, and nothing else.
    assert OwnerStore(root / OWNER_FOLDER).load().owned.routines == {
        name: data for name, data in files if passes(name, data)}
    assert not list(inbox.iterdir())


def test_two_desks_on_one_store_lose_neither_change(tmp_path):
    """The sync process's desk and the firmware's (a USB stick's) share the store: each reads
    it again before it saves, so the second save keeps the first one's change."""
    import queue

    from device.core.clock import VirtualClock
    from device.core.owned import Settings, owner_desk
    from device.settings.owner import PutRoutine

    clock, inboxes = VirtualClock(), [queue.SimpleQueue(), queue.SimpleQueue()]
    desks = [owner_desk(Settings(Config(), BUILT_IN, tmp_path, running_on=Config()), events=inbox, clock=clock,
                        busy=lambda: False) for inbox in inboxes]
    for desk, name in zip(desks, ("from-computer", "from-stick")):
        desk.offer(PutRoutine(name, MINE))   # both asked while the store is empty
    for inbox in inboxes:
        assert inbox.get_nowait().answer(True)
    for desk in desks:
        desk.tick()
    assert set(OwnerStore(tmp_path / OWNER_FOLDER).load().owned.routines) == {"from-computer", "from-stick"}
