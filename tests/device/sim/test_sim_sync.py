"""Issue 13 end to end: `facepace sim --headless --stay` serves the sync port of its config on
one end of a pty pair, the real `facepace routines push` runs on the other, and the person's
press (a line on the simulator's stdin, or its scripted `--answer`) answers the acceptance
screen. What the device did is read from its trace and its state folder; every wait is on a
condition, with a generous guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from companion import owner_client as owner
from companion import sync_client as host
from device.settings.owner import PutRoutine
from device.settings.ownerstore import OwnerStore
from tests.support.sync_testing import PtyLink
from tests.support.toml_documents import EVENING_CALM

ROOT = Path(__file__).parents[3]
GUARD = 90.0   # seconds: far beyond what any step takes, even on a loaded machine
MINE = EVENING_CALM
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


class SimDevice:
    """The simulator as a child process serving `link.device_port`."""

    def __init__(self, tmp_path: Path, link: PtyLink, *options: str, config: str = "") -> None:
        self.link = link
        config_file = tmp_path / "config.toml"
        config_file.write_text(f'[sync]\nport = "{link.device_port}"\n{config}')
        self.trace, self.state = tmp_path / "trace.jsonl", tmp_path / "state"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "device", "--config", str(config_file), "sim", "--headless", "--stay",
             "--trace", str(self.trace), "--state", str(self.state), *options],
            cwd=ROOT, env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.wait_for(lambda events: any(event["event"] == "frame" for event in events), "the first frame")

    def events(self, *names: str) -> list[dict]:
        if not self.trace.exists():
            return []
        found = []
        for line in self.trace.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:   # the line being written
                continue
            if not names or event["event"] in names:
                found.append(event)
        return found

    def wait_for(self, condition, what: str) -> list[dict]:
        stopped = threading.Event()
        for _ in range(int(GUARD / 0.05)):
            events = self.events()
            if condition(events):
                return events
            assert self.process.poll() is None, f"the simulator stopped waiting for {what}: {self.process.stderr.read()}"
            stopped.wait(0.05)
        raise AssertionError(f"no {what} within {GUARD} s; trace: {self.events()}")

    def answer(self, gesture: str, question: int = 1) -> None:
        """Once question number `question` has been on screen long enough to read (presses before
        that are ignored), the finger plays `gesture`."""
        def readable(events: list[dict]) -> bool:
            asked = [e["t"] for e in events if e["event"] == "question"]
            return len(asked) >= question and any(e["event"] == "frame" and e["t"] >= asked[question - 1] + 1.0
                                                  for e in events)
        self.wait_for(readable, f"question {question} on screen for a second")
        self.finger(gesture)

    def finger(self, gesture: str) -> None:
        self.process.stdin.write(gesture + "\n")
        self.process.stdin.flush()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=GUARD)
        return self.process.returncode

    def stored(self):
        return OwnerStore(self.state / "owner").load().owned


@pytest.fixture
def link():
    with PtyLink() as made:
        yield made


@pytest.fixture
def sim_device(tmp_path, link):
    made = []

    def start(*options: str, config: str = "") -> SimDevice:
        made.append(SimDevice(tmp_path, link, *options, config=config))
        return made[-1]

    yield start
    for device in made:
        assert device.stop() == 0


def facepace(link: PtyLink, *argv: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "device", *argv, "--port", link.host_port, "--timeout", "10"],
                            cwd=ROOT, env={**ENV, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=GUARD)
    return process.returncode, out, err


def mine(tmp_path: Path, text: str = MINE, name: str = "evening-calm") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_a_scripted_press_accepts_and_the_routine_joins_the_double_press_cycle(sim_device, link, tmp_path):
    device = sim_device("--answer", "press")
    code, out, err = finished(facepace(link, "routines", "push", str(mine(tmp_path))))
    assert code == 0, err
    assert out == "Routine 'evening-calm' (Evening calm) is on the device.\n"
    assert "Press the button on the device to accept" in err
    events = device.wait_for(lambda events: any(e["event"] == "settings" for e in events), "the new routines")
    question = next(e for e in events if e["event"] == "question")
    assert question["prompt"] == "Add routine 'Evening calm' 6:00"
    answer = next(e for e in events if e["event"] == "answer")
    assert (answer["answer"], answer["in_time"]) == (True, True)
    button = [e for e in events if e["event"] == "button"]
    assert [(b["gesture"], b["t"]) for b in button] == [("press", pytest.approx(question["t"] + 2.12, abs=1e-6))]
    cycle = next(e for e in events if e["event"] == "settings")["routines"]
    assert cycle == ["daily", "quick", "lymphatic", "evening", "evening-calm"]
    assert device.stored().routines == {"evening-calm": MINE.encode()}


def test_a_hold_refuses_a_key_press_answers_and_the_same_content_changes_nothing(sim_device, link, tmp_path):
    device = sim_device()
    push = facepace(link, "routines", "push", str(mine(tmp_path)))
    device.answer("hold")
    code, _, err = finished(push)
    assert (code, err.splitlines()[-1]) == (1, "facepace: refused on the device: nothing changed")
    assert device.stored().routines == {} and not device.events("settings")

    push = facepace(link, "routines", "push", str(mine(tmp_path)))
    device.answer("press", question=2)
    assert finished(push)[0] == 0
    device.wait_for(lambda events: any(e["event"] == "settings" for e in events), "the new routines")
    code, out, _ = finished(facepace(link, "routines", "push", str(mine(tmp_path))))
    assert (code, out) == (0, "The device already has routine 'evening-calm' with this content: nothing changed.\n")
    assert len(device.events("question")) == 2


def test_no_answer_within_a_minute_drops_the_change(sim_device, link, tmp_path):
    device = sim_device("--speed", "20", "--answer", "none")
    code, _, err = finished(facepace(link, "routines", "push", str(mine(tmp_path))))
    assert code == 1 and "nobody pressed the button on the device within 60 s: nothing changed" in err
    question, answer = device.events("question")[0], device.events("answer")[0]
    assert answer["answer"] is None and answer["t"] == pytest.approx(question["t"] + 60, abs=1e-6)
    assert device.stored().routines == {} and not device.events("settings")


def test_a_push_during_a_session_is_asked_and_applied_after_its_summary(sim_device, link, tmp_path):
    device = sim_device("--answer", "press", config="[timeouts]\nsummary_return = 5\n")
    device.finger("press")
    device.wait_for(lambda events: any(e["event"] == "session_start" for e in events), "the session")
    push = facepace(link, "routines", "push", str(mine(tmp_path)))
    assert push.stderr.readline() == "The device is in a session: it will ask when the session is over...\n"
    assert not device.events("question")
    device.finger("hold")   # the person ends the session
    code, out, err = finished(push)
    assert code == 0, err
    assert "Press the button on the device to accept" in err
    events = device.wait_for(lambda events: any(e["event"] == "settings" for e in events), "the new routines")
    order = [e["event"] for e in events if e["event"] in ("session_end", "summary", "question", "answer", "settings")]
    assert order == ["session_end", "summary", "question", "answer", "settings"]
    summary_end = next(e for e in events if e["event"] == "session_end")["t"] + 5
    assert next(e for e in events if e["event"] == "question")["t"] >= summary_end
    assert "evening-calm" in device.stored().routines


def test_what_the_checks_refuse_comes_back_and_nothing_changes(sim_device, link, tmp_path):
    device = sim_device("--answer", "press")
    broken = MINE.replace("seconds = 360", "seconds = 1")
    code, _, err = finished(facepace(link, "routines", "push", str(mine(tmp_path, broken))))
    assert code == 1 and f"{tmp_path / 'evening-calm.toml'}:7: zone 'cheeks': seconds must be 5..600, got 1" in err
    code, _, err = finished(facepace(link, "routines", "push", str(mine(tmp_path)), "--name", "../evil"))
    assert code == 2 and "'../evil' cannot name a routine on the device" in err
    big = mine(tmp_path, MINE + "#" * 17 * 1024 + "\n", "big")
    code, _, err = finished(facepace(link, "routines", "push", str(big)))
    assert code == 1 and "too large" in err and "16 KiB" in err

    # The device's own checks, for a computer that skips its side's (the bytes are sent as they are).
    port = host.open_device(link.host_port)
    try:
        talk = owner.connect(host.Link(port, timeout=10))
        rejected = owner.propose(talk, PutRoutine("evening-calm", broken.encode()))
        assert (rejected.state, list(rejected.problems)) == (
            "rejected", ["evening-calm.toml:7: zone 'cheeks': seconds must be 5..600, got 1"])
        escaping = owner.propose(talk, PutRoutine("../evil", MINE.encode()))
        assert escaping.state == "rejected" and "a routine name is 1..32 lowercase letters" in escaping.problems[0]
        owner.bye(talk)
    finally:
        port.close()
    assert device.stored().routines == {} and not device.events("question")
    assert not (device.state / "evil.toml").exists() and not (tmp_path / "evil.toml").exists()


def test_a_sync_offers_this_computer_s_time_zone_and_asks_only_when_it_differs(sim_device, link, tmp_path):
    device = sim_device("--answer", "press")
    code, out, err = finished(facepace(link, "sync", "--db", str(tmp_path / "host.db"), TZ="Asia/Tokyo"))
    assert code == 0, err
    assert out.splitlines()[-1] == "The device now counts its days in Asia/Tokyo."
    assert "this computer is in Asia/Tokyo" in err and "Press the button on the device" in err
    events = device.wait_for(lambda events: any(e["event"] == "settings" for e in events), "the new zone")
    assert next(e for e in events if e["event"] == "settings")["time_zone"] == "Asia/Tokyo"
    assert device.stored().settings == {"time_zone": "Asia/Tokyo"}
    code, out, _ = finished(facepace(link, "sync", "--db", str(tmp_path / "host.db"), TZ="Asia/Tokyo"))
    assert code == 0 and "time zone" not in out and len(device.events("question")) == 1
