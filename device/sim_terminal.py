"""The simulator in a terminal: the OLED in Unicode blocks, the motor, keys for the button."""

from __future__ import annotations

import select
import sys
import termios
import threading
import tty

from device.errors import FacepaceError

KEYS = {" ": "press", "\n": "press", "p": "press", "d": "double", "h": "hold"}
HELP = "keys: [space] press  [d] double press  [h] hold  [q] quit"


class TerminalScreen:
    """Redraws the panel and a motor line in place (ANSI cursor-home, no scrolling)."""

    def __init__(self, out=sys.stdout) -> None:
        self._out = out
        self._panel = ""
        self._duty = 0.0
        self._lock = threading.Lock()
        out.write("\x1b[2J\x1b[?25l")   # clear, hide cursor

    def frame(self, image, bus) -> None:
        from device.terminal_view import to_blocks

        state = "" if bus.powered else "  (panel off)"
        self._panel = to_blocks(image) + state
        self._draw()

    def motor(self, duty: float) -> None:
        self._duty = duty
        self._draw()

    def _draw(self) -> None:
        bar = "█" * round(self._duty * 20)
        with self._lock:
            self._out.write(f"\x1b[H{self._panel}\n motor {bar:<20} {self._duty:4.2f}\x1b[K\n {HELP}\x1b[K\n")
            self._out.flush()

    def close(self) -> None:
        self._out.write("\x1b[?25h\n")
        self._out.flush()


def _read_keys(sim, stop: threading.Event) -> None:
    fd = sys.stdin.fileno()
    while not stop.is_set():
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
    from device.sim import Simulator

    if not sys.stdin.isatty():
        raise FacepaceError("the interactive simulator needs a terminal; use --headless for scripts")
    screen = TerminalScreen()
    sim = Simulator(config, routines, speed=speed, on_frame=screen.frame, on_motor=screen.motor, **options)
    for at, gesture in script:
        sim.schedule(at, gesture)
    stop = threading.Event()
    saved = termios.tcgetattr(sys.stdin)
    keys = threading.Thread(target=_read_keys, args=(sim, stop), daemon=True)
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
