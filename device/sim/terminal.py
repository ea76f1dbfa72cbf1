"""The simulator in a terminal, on the standard library's curses: the panel, the motor, keys
for the button.

One thread owns curses: the main one. It sleeps in `select` on the keyboard and on a wake-up
pipe, and nothing else wakes it: a new frame or motor duty (the display worker's and the app's
threads note it and write a byte), and the signals (Python writes each one's number there, see
`signal.set_wakeup_fd`). SIGWINCH becomes curses' own KEY_RESIZE event through
`curses.resizeterm`; SIGINT, SIGTERM and SIGHUP stop the simulator like `q`. The app's loop runs
in a thread of its own. `curses.wrapper` gives the terminal back as it found it on every way
out, an exception included.
"""

from __future__ import annotations

import curses
import locale
import os
import select
import signal
import sys
import threading
from contextlib import contextmanager

from PIL import Image

from device.base.errors import FacepaceError
from device.sim.simulator import Simulator, finger_downs
from device.sim.terminal_view import PANEL, screen_lines

KEYS = {" ": "press", "\n": "press", "\r": "press", "p": "press", "d": "double", "h": "hold"}
QUIT_KEYS = ("q", "\x1b")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_REDRAW = b"\0"   # not a signal number, so it cannot be mistaken for one
_ESCAPE_DELAY_MS = 25   # Esc quits without curses' default 1 s wait for an escape sequence
_MARGIN_SECONDS = 0.1   # past the double-press window before the next key's gesture starts


class PanelState:
    """The newest frame and motor duty, handed from the simulator's threads to the screen; at
    most one wake-up byte waits in the pipe, so a signal's byte always finds room."""

    def __init__(self, wake_fd: int) -> None:
        self._wake_fd = wake_fd
        self._lock = threading.Lock()
        self._image = Image.new("1", PANEL, 0)
        self._powered = True
        self._duty = 0.0
        self._wake_pending = False

    def frame(self, image, bus) -> None:
        with self._lock:
            self._image, self._powered = image, bus.powered
        self.wake()

    def motor(self, duty: float) -> None:
        with self._lock:
            self._duty = duty
        self.wake()

    def lines(self, columns: int, lines: int) -> list[str]:
        """What to draw now; a change after this reading wakes the screen again."""
        with self._lock:
            image, powered, duty = self._image, self._powered, self._duty
            self._wake_pending = False
        return screen_lines(image, columns=columns, lines=lines, duty=duty, powered=powered)

    def wake(self) -> None:
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        os.write(self._wake_fd, _REDRAW)


def next_gesture_at(now: float, finger_free_at: float, gesture: str, button) -> tuple[float, float]:
    """When a key's gesture starts, and when the finger is free for the next one. A gesture waits
    until the one before has been told apart (released, and the double-press window gone by),
    so quick typing never merges two presses into a double or loses a hold under a double."""
    at = max(now, finger_free_at)
    released = finger_downs(at, gesture, hold_seconds=button.hold_seconds)[-1][1]
    return at, released + button.double_press_ms / 1000 + _MARGIN_SECONDS


def check_terminal() -> None:
    """Says in words why this terminal cannot show the simulator, before anything starts."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise FacepaceError("the interactive simulator needs a terminal; use --headless for scripts")
    codeset = locale.nl_langinfo(locale.CODESET)
    if codeset.upper().replace("-", "") != "UTF8":   # curses would draw the panel as blanks
        raise FacepaceError(f"the interactive simulator draws with Unicode characters, and this "
                            f"terminal's locale is {codeset}: run it in a UTF-8 locale, "
                            f"e.g. LC_ALL=C.UTF-8 facepace sim")
    try:
        curses.setupterm()
    except curses.error as error:
        raise FacepaceError(f"the interactive simulator cannot drive this terminal "
                            f"(TERM={os.environ.get('TERM', '')}: {error}); set TERM to your "
                            f"terminal's type, e.g. TERM=xterm-256color") from None


def run_terminal(config, routines, *, speed: float, script, **options) -> int:
    """Runs the simulator in this terminal until `q` (0) or a stop signal (128 + its number)."""
    check_terminal()
    with _wake_pipe() as (wake_read, wake_write), _signals_to(wake_write):
        panel = PanelState(wake_write)
        sim = Simulator(config, routines, speed=speed, on_frame=panel.frame, on_motor=panel.motor,
                        **options)
        try:
            for at, gesture in script:
                sim.schedule(at, gesture)
            return curses.wrapper(_serve, sim, panel, wake_read, config.button)
        finally:
            sim.close()


def _serve(window, sim: Simulator, panel: PanelState, wake_read: int, button) -> int:
    curses.curs_set(0)
    curses.set_escdelay(_ESCAPE_DELAY_MS)
    window.nodelay(True)
    finished = threading.Event()
    failure: list[BaseException] = []
    loop = threading.Thread(target=_run_app, args=(sim, finished, failure, panel.wake),
                            name="app loop", daemon=True)
    loop.start()
    stopped_by = 0
    finger_free_at = 0.0
    try:
        while not finished.is_set():
            _draw(window, panel)
            select.select([sys.stdin, wake_read], [], [])
            for signal_number in _drain(wake_read):
                if signal_number == signal.SIGWINCH:
                    curses.resizeterm(*_terminal_size())   # queues KEY_RESIZE
                elif signal_number in STOP_SIGNALS and not stopped_by:
                    stopped_by = signal_number
                    sim.stop()
            for key in _keys_waiting(window):
                if key == curses.KEY_RESIZE:
                    window.clear()   # the next drawing repaints every cell at the new size
                elif not isinstance(key, str):
                    continue
                elif key.lower() in QUIT_KEYS:
                    sim.stop()
                elif key.lower() in KEYS:
                    gesture = KEYS[key.lower()]
                    at, finger_free_at = next_gesture_at(sim.clock.now(), finger_free_at, gesture, button)
                    sim.schedule(at, gesture)
    finally:
        sim.stop()
        loop.join()
    if failure:
        raise failure[0]
    return 128 + stopped_by if stopped_by else 0


def _run_app(sim: Simulator, finished: threading.Event, failure: list, wake) -> None:
    try:
        sim.app.run(sim.events)
    except BaseException as error:   # handed to the main thread, which raises it after curses ends
        failure.append(error)
    finally:
        finished.set()
        wake()


def _drain(wake_read: int) -> bytes:
    """The signal numbers written to the wake-up pipe since the last look (redraws dropped)."""
    written = b""
    while True:
        try:
            chunk = os.read(wake_read, 4096)
        except BlockingIOError:   # empty (or woken by a key, not by the pipe)
            return written.replace(_REDRAW, b"")
        written += chunk


def _keys_waiting(window):
    """Each key (a str) or special key (an int, such as KEY_RESIZE) typed so far; never waits,
    the window being in no-delay mode."""
    while True:
        try:
            yield window.get_wch()
        except curses.error:   # no input left
            return


def _draw(window, panel: PanelState) -> None:
    lines, columns = window.getmaxyx()
    window.erase()
    for row, text in enumerate(panel.lines(columns, lines)):
        window.addstr(row, 0, text)
    window.refresh()


def _terminal_size() -> tuple[int, int]:
    size = os.get_terminal_size(sys.stdout.fileno())
    return size.lines, size.columns


@contextmanager
def _wake_pipe():
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        yield read_end, write_end
    finally:
        os.close(read_end)
        os.close(write_end)


@contextmanager
def _signals_to(wake_fd: int):
    """Signals that matter to the screen write their number to `wake_fd` instead of acting.
    Set before curses starts, so curses installs no SIGWINCH handler of its own."""
    watched = (signal.SIGWINCH, *STOP_SIGNALS)
    previous = {number: signal.signal(number, lambda *_: None) for number in watched}
    previous_fd = signal.set_wakeup_fd(wake_fd, warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
