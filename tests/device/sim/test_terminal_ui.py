"""`facepace sim` in a real terminal: a shell in a tmux pane runs it, the test types keys with
`tmux send-keys` and reads what a person would see with `tmux capture-pane`.

Every wait polls the pane for a condition under a generous guard: a slow machine makes these
tests slower, never wrong. The panel is read back into pixels from the characters' Unicode names
(tests/support/terminal_text.py) and compared with what the renderer draws.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import ImageChops

from device.screen.screens import layout, render
from device.screen.views import ZoneView
from device.settings.routines import load_library
from tests.support.terminal_text import find_panel

ROOT = Path(__file__).resolve().parents[3]
GUARD_SECONDS = 60.0
PROMPT = "ready> "

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="needs tmux (make test installs it with the system tools)")


class Pane:
    """A shell in a detached tmux pane of a set size, on a tmux server of its own."""

    def __init__(self, folder: Path, columns: int, lines: int) -> None:
        self.folder = folder
        self.socket = folder / "tmux.sock"
        env = {key: value for key, value in os.environ.items() if key != "TMUX"}
        # The shell is dash, which leaves the terminal's modes as it finds them (bash's line
        # editor would tidy up after a program that did not). It sets its own prompt for root;
        # the file named by ENV runs after that.
        (folder / "shrc").write_text(f"PS1='{PROMPT}'\n")
        env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", ENV=str(folder / "shrc"), HOME=str(folder),
                   FACEPACE_STATE_DIR=str(folder / "state"))
        config = folder / "tmux.conf"
        config.write_text("set -g status off\n")
        self._env = env
        self.tmux("-f", str(config), "new-session", "-d", "-x", str(columns), "-y", str(lines),
                  "-s", "facepace", "/bin/sh")
        try:
            self.wait_until(lambda screen: screen and screen[-1] == PROMPT.rstrip(), "the shell's prompt")
            assert self.size() == (columns, lines)
        except BaseException:   # no pane to hand over: stop its server here
            self.close()
            raise

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-u", "-S", str(self.socket), *args], env=self._env, check=True,
                              capture_output=True, text=True, timeout=GUARD_SECONDS).stdout

    def size(self) -> tuple[int, int]:
        columns, lines = self.tmux("display-message", "-p", "-t", "facepace",
                                   "#{pane_width} #{pane_height}").split()
        return int(columns), int(lines)

    def resize(self, columns: int, lines: int) -> None:
        self.tmux("resize-window", "-t", "facepace", "-x", str(columns), "-y", str(lines))

    def screen(self, *, joined: bool = False) -> list[str]:
        """The pane's lines as shown (`joined`: lines the terminal wrapped as one), trailing blank
        lines dropped."""
        lines = self.tmux("capture-pane", "-p", *(["-J"] if joined else []), "-t", "facepace").split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        return [line.rstrip() for line in lines]

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "facepace", "-l", text)

    def press(self, key: str) -> None:
        """A named key: Enter, C-c, ..."""
        self.tmux("send-keys", "-t", "facepace", key)

    def wait_until(self, condition, what: str):
        """The first true value of `condition(screen)`; fails, showing the screen, after the guard."""
        stop = time.monotonic() + GUARD_SECONDS
        while True:
            screen = self.screen()
            found = condition(screen)
            if found:
                return found
            if time.monotonic() > stop:
                raise AssertionError(f"no {what} within {GUARD_SECONDS:.0f} s; the pane shows:\n"
                                     + "\n".join(screen))
            threading.Event().wait(0.02)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], env=self._env,
                       capture_output=True, timeout=GUARD_SECONDS)


@pytest.fixture
def pane_at(tmp_path):
    panes = []

    def open_pane(columns: int, lines: int) -> Pane:
        panes.append(Pane(tmp_path, columns, lines))
        return panes[-1]

    yield open_pane
    for pane in panes:
        pane.close()


def start_sim(pane: Pane, *options: str, env: str = "LC_ALL=C.UTF-8",
              program: str = "-m device") -> Path:
    """Types the command that runs `facepace sim` (then says its exit status); returns its trace."""
    trace = pane.folder / "trace.jsonl"
    script = pane.folder / "sim.sh"
    script.write_text(f"cd {shlex.quote(str(ROOT))}\necho $$ > {shlex.quote(str(pane.folder / 'pid'))}\n"
                      f"{env} exec {shlex.quote(sys.executable)} {program} sim --routine quick "
                      f"--trace {shlex.quote(str(trace))} {' '.join(options)}\n")
    pane.type(f"sh {shlex.quote(str(script))}; echo exit=$?")
    pane.press("Enter")
    return trace


def panel(drawing: str):
    """A condition: the panel is on the screen in `drawing`, something lit on it; gives its pixels.
    (A dark panel is spaces in either drawing.)"""
    def shown(screen):
        found = find_panel(screen)
        return found[1] if found and found[0] == drawing and found[1].getbbox() else None
    return shown


def traced(trace: Path, event: str, **fields) -> bool:
    """Whether the trace has `event` (with these fields) yet."""
    if not trace.exists():
        return False
    events = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    return any(e["event"] == event and fields.items() <= e.items() for e in events)


def title_band(title: str):
    """The pixels a zone's title takes on the panel, as the renderer draws them."""
    view = ZoneView(title, "", zone_remaining=10, zone_seconds=10, zone_number=1, zone_count=1)
    (area,) = [item.area for item in layout(view) if item.name == "zone title"]
    return area, render(view).crop(area)


def shows_title(title: str, drawing: str):
    area, expected = title_band(title)

    def shown(screen):
        pixels = panel(drawing)(screen)
        return pixels is not None and ImageChops.difference(pixels.crop(area), expected).getbbox() is None
    return shown


def motor_duty(screen: list[str]) -> float | None:
    found = [re.fullmatch(r" motor [█ ]{20} (\d\.\d\d).*", line) for line in screen]
    return next((float(match[1]) for match in found if match), None)


def quit_and_check_the_terminal(pane: Pane, status: int, *, says_where: bool = True) -> None:
    """The shell is back, says the simulator's exit status, and the terminal echoes and reads
    lines again: `stty -a` shows echo and icanon, not -echo and -icanon."""
    pane.wait_until(lambda screen: f"exit={status}" in screen and screen[-1] == PROMPT.rstrip(),
                    f"exit={status} and the prompt")
    pane.type("stty -a")
    pane.press("Enter")
    modes = pane.wait_until(
        lambda screen: set(re.split(r"[\s;]+", " ".join(screen))) if screen[-1] == PROMPT.rstrip()
        and "stty -a" in " ".join(screen) and "icanon" in " ".join(screen) else None,
        "stty's answer")
    assert {"echo", "icanon", "isig"} <= modes and not {"-echo", "-icanon", "-isig"} & modes
    where = (f"facepace sim: simulated sessions are kept in {pane.folder / 'state' / 'sim'}, "
             "apart from your own log")
    assert not says_where or where in pane.screen(joined=True)


QUICK = next(routine for routine in load_library(None).routines if routine.name == "quick")


@pytest.mark.parametrize(("columns", "lines", "drawing", "press", "quit"), [
    (80, 24, "braille", "Space", "q"), (130, 40, "blocks", "Enter", "Escape")],
    ids=["80x24-braille-space-q", "130x40-blocks-enter-escape"])
def test_a_press_starts_a_session_the_motor_shows_and_quitting_gives_the_terminal_back(
        pane_at, columns, lines, drawing, press, quit):
    pane = pane_at(columns, lines)
    # A fifth of real time: the zone's opening buzz lasts 1.75 s, long enough to be seen.
    trace = start_sim(pane, "--speed", "0.2")
    pane.wait_until(panel(drawing), f"panel in {drawing}")
    screen = pane.screen()
    assert screen[-1] == " keys: [space] press  [d] double press  [h] hold  [q] quit"
    assert motor_duty(screen) == 0.0
    pane.press(press)
    pane.wait_until(lambda screen: traced(trace, "session_start"), "session start in the trace")
    pane.wait_until(shows_title(QUICK.active_zones[0].title, drawing), "first zone's title on the panel")
    pane.wait_until(lambda screen: (motor_duty(screen) or 0) > 0, "motor running on the motor line")
    pane.press(quit)
    quit_and_check_the_terminal(pane, 0)
    assert traced(trace, "session_end")


def test_d_and_h_play_a_double_press_and_a_hold(pane_at):
    pane = pane_at(80, 24)
    trace = start_sim(pane)
    pane.wait_until(panel("braille"), "panel in braille")
    for key, gesture in (("d", "double"), ("h", "hold")):
        pane.type(key)
        pane.wait_until(lambda screen: traced(trace, "button", gesture=gesture), f"a {gesture} in the trace")
    assert not traced(trace, "button", gesture="press")
    pane.type("q")
    quit_and_check_the_terminal(pane, 0)


def test_a_resize_redraws_at_once_in_the_drawing_that_fits_and_ctrl_c_quits(pane_at):
    pane = pane_at(80, 24)
    start_sim(pane)
    pane.wait_until(panel("braille"), "panel in braille")
    pane.resize(130, 40)
    pane.wait_until(panel("blocks"), "panel in half blocks after growing to 130x40")
    pane.resize(50, 12)
    pane.wait_until(lambda screen: " ".join(screen) == (
        "facepace sim needs a terminal of at least 66x20 characters; this one is 50x12. Make it "
        "larger, or press q to quit."), "the size it needs, in words")
    pane.resize(80, 24)
    pane.wait_until(panel("braille"), "panel in braille after growing back to 80x24")
    pane.press("C-c")
    quit_and_check_the_terminal(pane, 128 + signal.SIGINT)


def test_sigterm_stops_it_and_gives_the_terminal_back(pane_at):
    pane = pane_at(80, 24)
    trace = start_sim(pane)
    pane.wait_until(panel("braille"), "panel in braille")
    pane.type(" ")
    pane.wait_until(lambda screen: traced(trace, "session_start"), "session start in the trace")
    os.kill(int((pane.folder / "pid").read_text()), signal.SIGTERM)
    quit_and_check_the_terminal(pane, 128 + signal.SIGTERM)
    assert traced(trace, "session_end"), "the session was closed, not cut off"


def test_a_terminal_without_a_utf8_locale_is_told_so_instead_of_a_blank_panel(pane_at):
    pane = pane_at(80, 24)
    start_sim(pane, env="LC_ALL=C")
    pane.wait_until(lambda screen: "exit=1" in screen and screen[-1] == PROMPT.rstrip(), "exit=1")
    said = " ".join(pane.screen(joined=True))
    assert "simulated sessions are kept in" not in said, "nothing started, so nothing was kept"
    assert "this terminal's locale is ANSI_X3.4-1968: run it in a UTF-8 locale" in said, said


def test_a_terminal_curses_does_not_know_is_told_so_in_words(pane_at):
    pane = pane_at(80, 24)
    start_sim(pane, env="LC_ALL=C.UTF-8 TERM=no-such-terminal")
    pane.wait_until(lambda screen: "exit=1" in screen and screen[-1] == PROMPT.rstrip(), "exit=1")
    said = " ".join(pane.screen(joined=True))
    assert "cannot drive this terminal (TERM=no-such-terminal: setupterm: could not find terminal); " \
        "set TERM" in said, said


def test_a_crash_in_the_app_gives_the_terminal_back_and_shows_the_error(pane_at):
    """A fault planted in the app's loop (its thread raises on the first gesture): the error comes
    out after the terminal is restored, where it can be read."""
    pane = pane_at(80, 24)
    child = pane.folder / "crashing_sim.py"
    child.write_text(
        "import sys\n"
        "from device.core.app import App\n"
        "from device.cli.main import main\n"
        "def planted(*args, **kwargs):\n"
        "    raise RuntimeError('planted fault in the app loop')\n"
        "App.on_gesture = planted\n"
        "sys.exit(main(sys.argv[1:]))\n")
    start_sim(pane, env=f"LC_ALL=C.UTF-8 PYTHONPATH={shlex.quote(str(ROOT))}", program=str(child))
    pane.wait_until(panel("braille"), "panel in braille")
    pane.type(" ")
    quit_and_check_the_terminal(pane, 1, says_where=False)   # the traceback scrolled it away
    assert "RuntimeError: planted fault in the app loop" in pane.screen(joined=True)
