"""The simulator in a terminal: the OLED in Unicode blocks, the motor, keys for the button."""

from __future__ import annotations

import select
import shutil
import sys
import termios
import threading
import tty

from PIL import Image

from device.base.errors import FacepaceError
from device.sim.terminal_view import half_height, to_blocks, to_quadrants

KEYS = {" ": "press", "\n": "press", "p": "press", "d": "double", "h": "hold"}
HELP = "keys: [space] press  [d] double press  [h] hold  [q] quit"
STATUS_LINES = 2  # the motor line and the keys line under the panel


def choose_drawing(columns: int, lines: int, panel: tuple[int, int] = (128, 64)) -> str | None:
    """"full" when every pixel fits the terminal, else "quadrants" (half height, quadrant
    blocks), else None: the terminal is too small for either."""
    for drawing in ("full", "quadrants"):
        needed_columns, needed_lines = needed_size(drawing, panel)
        if columns >= needed_columns and lines >= needed_lines:
            return drawing
    return None


def needed_size(drawing: str, panel: tuple[int, int] = (128, 64)) -> tuple[int, int]:
    """Columns and lines a drawing takes with its frame and the status lines."""
    width, height = panel
    if drawing == "full":   # a character per pixel column, two pixel rows per line
        return width + 2, (height + 1) // 2 + 2 + STATUS_LINES
    if drawing == "quadrants":   # two pixel columns and four pixel rows per character
        return (width + 1) // 2 + 2, (height + 3) // 4 + 2 + STATUS_LINES
    raise ValueError(f"no drawing called {drawing!r}; there are 'full' and 'quadrants'")


class TerminalScreen:
    """Redraws the panel and a motor line in place (ANSI cursor-home, no scrolling), in the
    largest drawing the terminal has room for; a change of terminal size clears the screen."""

    def __init__(self, out=sys.stdout, *, terminal_size=shutil.get_terminal_size,
                 panel: tuple[int, int] = (128, 64)) -> None:
        self._out = out
        self._terminal_size = terminal_size
        self._image = Image.new("1", panel, 0)
        self._powered = True
        self._duty = 0.0
        self._drawn_at: tuple[int, int] | None = None   # terminal size of the last drawing
        self._lock = threading.Lock()
        out.write("\x1b[?25l")   # hide the cursor

    def frame(self, image, bus) -> None:
        with self._lock:
            self._image, self._powered = image, bus.powered
            self._draw()

    def motor(self, duty: float) -> None:
        with self._lock:
            self._duty = duty
            self._draw()

    def follow_resize(self) -> None:
        """Redraws at once if the terminal changed size since the last drawing."""
        with self._lock:
            if tuple(self._terminal_size()) != self._drawn_at:
                self._draw()

    def _draw(self) -> None:
        columns, lines = self._terminal_size()
        clear = "\x1b[2J" if (columns, lines) != self._drawn_at else ""
        self._drawn_at = (columns, lines)
        self._out.write(f"{clear}\x1b[H{self._picture(columns, lines)}")
        self._out.flush()

    def _picture(self, columns: int, lines: int) -> str:
        drawing = choose_drawing(columns, lines, self._image.size)
        if drawing is None:
            least = "x".join(map(str, needed_size("quadrants", self._image.size)))
            messages = (f"make the terminal at least {least} (it is {columns}x{lines}); q quits",
                        f"make the terminal at least {least}", f"at least {least}", least)
            # One line, never wrapped: the longest message that fits (the last column stays
            # free, so the cursor never waits there to wrap).
            return next((text for text in messages if len(text) < columns), "") + "\x1b[K"
        if drawing == "full":
            panel = to_blocks(self._image)
        else:
            panel = to_quadrants(half_height(self._image))
        bar = "\u2588" * round(self._duty * 20)
        off = "" if self._powered else "  (panel off)"
        # No newline after the last line: at the terminal's last line it would scroll the panel.
        return f"{panel}\n motor {bar:<20} {self._duty:4.2f}{off}\x1b[K\n {HELP}\x1b[K"

    def close(self) -> None:
        self._out.write("\x1b[?25h\n")
        self._out.flush()


def _read_keys(sim, screen: TerminalScreen, stop: threading.Event) -> None:
    fd = sys.stdin.fileno()
    while not stop.is_set():
        screen.follow_resize()
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        key = sys.stdin.read(1).lower()
        if key in ("q", "\x1b", ""):
            sim.stop()
            return
        if key in KEYS:
            sim.schedule(sim.clock.now(), KEYS[key])


def run_terminal(config, routines, *, speed: float, script, **options) -> int:
    from device.sim.simulator import Simulator

    if not sys.stdin.isatty():
        raise FacepaceError("the interactive simulator needs a terminal; use --headless for scripts")
    screen = TerminalScreen()
    sim = Simulator(config, routines, speed=speed, on_frame=screen.frame, on_motor=screen.motor, **options)
    for at, gesture in script:
        sim.schedule(at, gesture)
    stop = threading.Event()
    saved = termios.tcgetattr(sys.stdin)
    keys = threading.Thread(target=_read_keys, args=(sim, screen, stop), daemon=True)
    try:
        tty.setcbreak(sys.stdin.fileno())
        keys.start()
        sim.app.run(sim.events)
    finally:
        stop.set()
        termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)
        sim.close()
        screen.close()
    return 0
