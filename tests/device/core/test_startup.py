"""Start-up order (issue 12): the splash is the first frame, on the panel before the log is opened
(its integrity check) and before the app is imported and built; READY=1 once the loop serves and
the panel has answered; a damaged log is still found and told at start. Driven on the simulated
parts, read at the bus; the import guard runs a fresh interpreter."""

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from device.core.assemble import assemble
from device.core.clock import VirtualClock
from device.core.parts import simulated_parts
from device.screen.screens import render
from device.screen.views import IdleView, StartingView
from device.service.firmware import Readiness
from device.settings.config import Config
from device.settings.routines import load_library

REPO = Path(__file__).parents[3]
SPLASH = render(StartingView())
FIRST_IDLE = IdleView("Daily glow", 490, 1, 4, 3, week_done=0, week_goal=5, status="Gentle start 1 of 5")


def same_picture(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a.convert("1"), b.convert("1")).getbbox() is None


class FramesSeen:
    """Each frame that reached the panel, with whether the session log existed then."""

    def __init__(self, parts, log_path: Path) -> None:
        self.parts, self.log_path = parts, log_path
        self.frames: list[tuple[Image.Image, bool]] = []

    def __call__(self, frame) -> None:
        self.frames.append((self.parts.bus.image(), self.log_path.exists()))


@pytest.mark.parametrize("display_thread", [False, True], ids=["simulator", "firmware"])
def test_the_splash_is_on_the_panel_before_the_log_is_opened_then_the_idle_screen(tmp_path, display_thread):
    config, clock = Config(), VirtualClock()
    parts = simulated_parts(config, clock, state_dir=tmp_path / "state")
    seen = FramesSeen(parts, tmp_path / "state" / "sessions.db")
    with assemble(config, list(load_library(None).routines), parts, on_frame_sent=seen,
                  display_thread=display_thread) as device:
        [(first, log_there)] = seen.frames       # built: only the splash so far, and no idle figures
        assert same_picture(first, SPLASH) and not log_there
        assert (tmp_path / "state" / "sessions.db").exists()
        if not display_thread:                   # (the display's thread sends the rest in its own time)
            device.run(until=lambda: True)       # the loop's first pass: the idle screen, figures and all
            assert same_picture(seen.frames[-1][0], render(FIRST_IDLE))


def test_a_damaged_log_at_start_is_repaired_and_told_after_the_splash(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "sessions.db").write_bytes(b"this is not a database" * 100)
    config, clock = Config(), VirtualClock()
    parts = simulated_parts(config, clock, state_dir=tmp_path / "state")
    seen = FramesSeen(parts, tmp_path / "state" / "sessions.db")
    with assemble(config, list(load_library(None).routines), parts, on_frame_sent=seen) as device:
        device.run(until=lambda: True)
        assert same_picture(seen.frames[0][0], SPLASH)
        assert same_picture(seen.frames[-1][0], render(FIRST_IDLE, error="Log repaired"))


def test_ready_once_the_loop_serves_and_the_panel_answered_in_either_order():
    for order in (["panel", "loop"], ["loop", "panel"], ["loop", "loop", "panel"]):
        sent = []
        ready = Readiness(lambda: sent.append("READY=1"))
        for step in order[:-1]:
            ready.poll(0.0) if step == "loop" else ready.panel_answered()
        assert sent == [], order
        ready.poll(0.0) if order[-1] == "loop" else ready.panel_answered()
        ready.poll(1.0)
        ready.panel_answered()                   # every later frame: still once
        assert sent == ["READY=1"], order


def test_the_firmware_imports_nothing_of_the_app_before_its_splash():
    """`facepace run`'s module and the composition root leave the app, the log, the sync and the
    settings behind the splash: imported in `assemble()` once the first frame is on its way."""
    probe = ("import sys, device.service.firmware, device.sim.simulator; "
             "print(' '.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.split()
    for behind_the_splash in ("device.core.app", "device.core.owned", "device.core.presenter",
                              "device.log.recording", "device.log.sessionlog", "device.log.goals",
                              "device.sync.channel", "device.screen.screens", "gpiozero", "sqlite3",
                              "importlib.metadata"):
        assert behind_the_splash not in loaded, behind_the_splash


def test_simulated_parts_make_their_mock_pins_on_first_use_as_the_pi_imports_gpiozero_late():
    """The bench's start-up is the Pi's: simulated parts leave gpiozero (~60 ms of imports here)
    until a pin is asked for, as the Pi's real parts leave it until the button is made."""
    probe = ("import sys; from device.core.parts import simulated_parts; "
             "from device.settings.config import Config; from device.core.clock import VirtualClock; "
             "parts = simulated_parts(Config(), VirtualClock()); before = 'gpiozero' in sys.modules; "
             "pin = parts.pins.pin(17); pin.drive_low(); "
             "print(before, 'gpiozero' in sys.modules, pin.state, type(pin).__name__)")
    answer = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.split()
    assert answer == ["False", "True", "False", "ClockedMockPWMPin"]


def test_the_firmwares_stick_desk_is_built_when_a_routine_waits_and_asks_as_before(tmp_path):
    """Without the sync beside the loop (the firmware), the USB stick's desk is built on first use."""
    from tests.support.toml_documents import EVENING_CALM

    inbox = tmp_path / "run" / "import"
    inbox.mkdir(parents=True)
    config, clock = Config(), VirtualClock()
    parts = simulated_parts(config, clock, state_dir=tmp_path / "state")
    traced = []
    with assemble(config, list(load_library(None).routines), parts, stick_inbox=inbox,
                  traces=[lambda event, **fields: traced.append((event, fields))]) as device:
        device.run(until=lambda: clock.now() >= 0)            # started, nothing on the stick yet
        (inbox / "evening-calm.toml").write_text(EVENING_CALM)
        device.run(until=lambda: any(event == "question" for event, _ in traced) or clock.now() > 60)
        [question] = [fields for event, fields in traced if event == "question"]
        assert question["prompt"] == "Add routine 'Evening calm' 6:00"
