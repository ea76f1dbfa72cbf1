"""Frames to the OLED, without ever letting the panel stop the pacing.

- `ResilientDisplay` shows frames synchronously and survives the bus failing: on any error
  from the panel (a loose cable gives `OSError` errno 121 on Linux; a driver may raise
  `RuntimeError` or `ValueError` just as well) it drops the panel, keeps the newest frame,
  tries a fresh panel at once, then retries with exponential backoff on the injected clock;
  every attempt opens the panel afresh, which re-initialises the controller, and repaints
  the newest frame. An outage is what a person would notice: it begins when the panel has
  shown nothing for `outage_after` seconds, so a glitch on one transfer (common on a long
  cable) that a retry fixes is none; it ends when the panel has taken every frame for
  `steady_after` seconds, so a connector that flaps (the motor shakes it) is one outage.
- `DisplayWorker` runs a `ResilientDisplay` on its own thread for the real device: a 100 kHz
  panel takes tens of milliseconds per frame, so the loop only drops the newest frame in a
  one-slot hand-off and never waits for the bus. It renders there too: the loop hands over a
  `FrameToDraw` (the view as plain data), because a render takes 12-35 ms of a Pi's CPU and a
  cue or a click due meanwhile would wait for it (issue 12).

Both are a `FrameSink` (`push`, `next_deadline`, `retry`, `close`), the one face the app sees:
the simulator under a virtual clock uses `ResilientDisplay` directly. What `ResilientDisplay`
drives is a `Panel` (`drivers.oled.OledDisplay`, which keeps the SSD1306's partial-page updates
to itself). Brightness and power travel with each frame.

Size (~325 lines): the two ways to the panel share the retry rules and the frame hand-off; the
worker's thread and its rendering (issue 12) are the part to move out first.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, NamedTuple, Protocol

from PIL import Image

from device.base.quiet import NEVER, QuietTimes
from drivers.errors import NoHardwareError

log = logging.getLogger(__name__)

BRIGHTNESS_LEVELS = ("normal", "dim", "off")


@dataclass(frozen=True)
class Frame:
    """One picture for the panel (Pillow mode "1") and how bright to show it."""

    image: Image.Image
    brightness: str = "normal"

    def __post_init__(self) -> None:
        if self.brightness not in BRIGHTNESS_LEVELS:
            raise ValueError(f"brightness must be one of {', '.join(BRIGHTNESS_LEVELS)}, got {self.brightness!r}")
        if self.image.mode != "1":
            raise ValueError(f"a frame is a mode \"1\" image, got mode {self.image.mode!r}")


class Drawing(NamedTuple):
    """What a frame shows, as plain data: a view and the notice over it (`screens.render`'s
    arguments). The app's `render` where the display draws on its own thread."""

    view: object
    error: str | None = None


@dataclass(frozen=True)
class FrameToDraw:
    """A frame the display renders itself (`DisplayWorker`, on its thread)."""

    drawing: Drawing
    brightness: str = "normal"

    def __post_init__(self) -> None:
        if self.brightness not in BRIGHTNESS_LEVELS:
            raise ValueError(f"brightness must be one of {', '.join(BRIGHTNESS_LEVELS)}, got {self.brightness!r}")


class FrameSink(Protocol):
    """What the app needs from a display: show this frame (at its brightness, "off" powers the
    glass down), when to call `retry()` on the loop's clock (None: never), and close."""

    def push(self, frame: Frame) -> None: ...
    def next_deadline(self) -> float | None: ...
    def retry(self) -> None: ...
    def close(self) -> None: ...


class Panel(Protocol):
    """What `ResilientDisplay` drives: a 1-bit panel that shows exactly the image it is given."""

    def show(self, image: Image.Image) -> None: ...
    def contrast(self, value: int) -> None: ...   # 0..255
    def poweroff(self) -> None: ...
    def poweron(self) -> None: ...
    def close(self) -> None: ...


class Clock(Protocol):
    """Seconds, from the one injected clock."""

    def now(self) -> float: ...


class RealTimeClock(Clock, Protocol):
    """A clock that runs with real time, `speed` clock seconds to a real one (the worker's thread
    waits in real seconds)."""

    speed: float


class ResilientDisplay:
    """Shows frames on a panel from `open_panel()`, re-opening it with backoff when the bus fails.

    `open_panel()` returns a `Panel` (`drivers.oled.OledDisplay`), or raises NoHardwareError
    (no bus at all: reported once, never retried) or anything else (panel not answering: retried).
    Callbacks run on the thread that calls `push()`/`retry()`:
    `on_sent(frame)` for every frame that reached the panel; `on_status(ok, message)` once when
    an outage begins (no frame has reached the panel for `outage_after` seconds) and once when
    it ends (the panel has taken every frame for `steady_after` seconds).
    """

    def __init__(self, open_panel: Callable[[], Panel], clock: Clock, *, normal_contrast: int = 255,
                 dim_contrast: int = 16, first_retry: float = 0.5, max_retry: float = 30.0,
                 immediate_retries: int = 2, outage_after: float = 1.0, steady_after: float = 10.0,
                 on_sent: Callable[[Frame], None] | None = None,
                 on_status: Callable[[bool, str], None] | None = None) -> None:
        if not 0 < first_retry <= max_retry:
            raise ValueError(f"need 0 < first_retry <= max_retry, got {first_retry} and {max_retry}")
        if immediate_retries < 0 or outage_after < 0 or steady_after < 0:
            raise ValueError(f"need immediate_retries, outage_after and steady_after >= 0, "
                             f"got {immediate_retries}, {outage_after} and {steady_after}")
        self._clock = clock
        self._open_panel = open_panel
        self._contrast = {"normal": normal_contrast, "dim": dim_contrast}
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._immediate_retries = immediate_retries
        self._outage_after = outage_after
        self._steady_after = steady_after
        self._on_sent = on_sent
        self._on_status = on_status
        self._panel: Panel | None = None  # opened by the first push, not by the constructor
        self._pending: Frame | None = None  # newest frame not yet on the panel
        self._on_panel: tuple[bytes, tuple[int, int], str] | None = None  # pixels, size, brightness
        self._retry_at: float | None = None
        self._retry_delay = first_retry
        self._failing_since: float | None = None  # first failed attempt of the current streak
        self._down = False                        # an outage was reported and has not ended
        self._back_at: float | None = None        # when the outage ends if nothing fails till then
        self._no_hardware = False
        self._closed = False

    @property
    def is_ok(self) -> bool:
        """False from a failure until a frame reaches the panel again."""
        return not (self._failing_since is not None or self._no_hardware)

    def push(self, frame: Frame) -> None:
        """Show `frame` now, or keep it for the next retry while the panel is failing."""
        if self._closed or self._no_hardware:
            return
        self._pending = frame
        if self._retry_at is None:
            self._send_pending()

    def next_deadline(self) -> float | None:
        """When `retry()` should be called (clock seconds), or None."""
        deadlines = [at for at in (self._retry_at, self._back_at) if at is not None]
        return min(deadlines, default=None)

    def retry(self) -> None:
        """Re-open the panel and show the newest frame, if the retry time has come; report the
        end of an outage, if the panel has answered long enough."""
        if self._closed:
            return
        if self._retry_at is not None and self._clock.now() >= self._retry_at:
            self._retry_at = None
            self._send_pending()
        self._end_outage_if_steady()

    def close(self) -> None:
        """Clear and power off the panel. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._drop_panel()

    def __enter__(self) -> "ResilientDisplay":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------

    def _send_pending(self) -> None:
        frame = self._pending
        # A fresh panel usually fixes a glitch on one transfer at once: try it before waiting.
        tries = 1 + (self._immediate_retries if self._failing_since is None else 0)
        try:
            for _ in range(tries):
                sent, error = self._attempt(frame)
                if error is None:
                    break
        except NoHardwareError as no_bus:
            self._no_hardware = True
            self._pending = None
            log.error("display disabled: %s", no_bus)
            self._report(False, str(no_bus))
            return
        if error is not None:
            self._failed(error)
            return
        self._pending = None
        self._retry_delay = self._first_retry
        failing_since, self._failing_since = self._failing_since, None
        if sent and self._on_sent is not None:
            self._on_sent(frame)
        if failing_since is not None:
            log.info("display answering again after %.1f s", self._clock.now() - failing_since)
        if self._down and self._back_at is None:
            self._back_at = self._clock.now() + self._steady_after
        self._end_outage_if_steady()

    def _end_outage_if_steady(self) -> None:
        if self._back_at is not None and self._clock.now() >= self._back_at:
            self._down, self._back_at = False, None
            log.info("display back")
            self._report(True, "display back")

    def _attempt(self, frame: Frame | None) -> tuple[bool, Exception | None]:
        """Open the panel if needed and show `frame`: (whether pixels went out, the error if the
        panel failed; it is dropped then)."""
        try:
            if self._panel is None:
                self._panel = self._open_panel()
            return frame is not None and self._show(frame), None
        except NoHardwareError:
            raise
        except Exception as error:  # any failure of the panel is a panel failure, never the caller's
            if self._failing_since is None:
                self._failing_since = self._clock.now()
                log.info("display transfer failed (%s: %s); trying a fresh panel", type(error).__name__, error)
            self._drop_panel()
            return False, error

    def _show(self, frame: Frame) -> bool:
        """Put `frame` on the panel; False if it is already there."""
        state = (frame.image.tobytes(), frame.image.size, frame.brightness)
        if state == self._on_panel:
            return False
        panel = self._panel
        was = self._on_panel[2] if self._on_panel is not None else None
        self._on_panel = None  # unknown until every step below has worked
        if frame.brightness == "off":
            if was != "off":
                panel.poweroff()  # first, so the new pixels are never seen
            panel.show(frame.image)
        else:
            if was != frame.brightness:
                panel.contrast(self._contrast[frame.brightness])
            panel.show(frame.image)
            if was == "off":
                panel.poweron()  # last, so waking shows the new picture at once
        self._on_panel = state
        return True

    def _failed(self, error: Exception) -> None:
        now = self._clock.now()
        self._back_at = None  # a panel that fails again is still in the same outage
        delay = self._retry_delay
        self._retry_delay = min(delay * 2, self._max_retry)
        if not self._down:
            outage_at = self._failing_since + self._outage_after
            if now >= outage_at:
                self._down = True
                log.warning("display not answering (%s); pacing continues by haptics", error)
                self._report(False, f"display not answering: {error}")
            else:  # judge the outage on time, not on where the backoff happens to fall
                delay = min(delay, outage_at - now)
        self._retry_at = now + delay

    def _drop_panel(self) -> None:
        panel, self._panel = self._panel, None
        self._on_panel = None  # the next panel is opened afresh and shows nothing of ours
        if panel is not None:
            try:
                panel.close()  # releases the bus if the panel owns it
            except Exception as error:  # a panel that fails to close is already gone
                log.info("display close failed: %s: %s", type(error).__name__, error)

    def _report(self, ok: bool, message: str) -> None:
        if self._on_status is not None:
            self._on_status(ok, message)


class DisplayWorker:
    """Runs a ResilientDisplay on a daemon thread; `push()` never waits for the bus, nor for a
    render: a `FrameToDraw` is rendered on the thread with `render(view, error=...)`.

    Only the newest frame matters: a frame pushed while the panel is busy replaces the one
    still waiting (and is never rendered). The thread also handles the retry deadlines itself, so `next_deadline()`
    is always None and `retry()` does nothing. The ResilientDisplay's callbacks run on the
    worker thread: they should only hand events to the app's queue.
    """

    def __init__(self, display: ResilientDisplay, clock: RealTimeClock, *, render: Callable | None = None,
                 join_timeout: float = 5.0, quiet: QuietTimes = NEVER) -> None:
        self._display = display
        self._render = render
        self._quiet = quiet   # the loop's quiet times: a render or a push waits them out
        self._clock = clock   # the display's own: the thread waits for its retry deadlines
        self._join_timeout = join_timeout
        self._wake = threading.Condition()
        self._newest: Frame | None = None
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="facepace-display", daemon=True)
        self._thread.start()

    def push(self, frame: Frame | FrameToDraw) -> None:
        with self._wake:
            if self._stopping:
                return
            self._newest = frame
            self._wake.notify()

    def next_deadline(self) -> None:
        return None

    def retry(self) -> None:
        """Nothing to do: the worker thread retries on its own."""

    def close(self) -> None:
        """Stop the thread after it has sent the newest frame, then close the panel."""
        if self._closed:
            return
        self._closed = True
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(self._join_timeout)
        if self._thread.is_alive():
            log.warning("display thread still busy after %.1f s; leaving it behind", self._join_timeout)

    def __enter__(self) -> "DisplayWorker":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _serve(self) -> None:
        from device.base.gil import in_the_background

        in_the_background()   # a render must never keep the loop's cue waiting for the CPU
        display = self._display
        try:
            while True:
                with self._wake:
                    frame = self._next_job(display)
                    stopping = self._stopping
                    if stopping:  # the last frame pushed (the "Off" screen) still goes out
                        frame, self._newest = frame or self._newest, None
                try:
                    if frame is not None:
                        self._quiet.step_aside()
                        drawn = self._drawn(frame)
                        self._quiet.step_aside()
                        display.push(drawn)
                    elif not stopping:
                        display.retry()
                except Exception:  # a bad frame must not kill the display for good
                    log.exception("display worker: frame dropped")
                if stopping:
                    return
        finally:
            display.close()

    def _drawn(self, frame: Frame | FrameToDraw) -> Frame:
        if isinstance(frame, FrameToDraw):
            drawing = frame.drawing
            return Frame(self._render(drawing.view, error=drawing.error), frame.brightness)
        return frame

    def _next_job(self, display: ResilientDisplay) -> Frame | FrameToDraw | None:
        """Wait (holding the condition) for a new frame, a due retry, or stopping."""
        while not self._stopping:
            if self._newest is not None:
                frame, self._newest = self._newest, None
                return frame
            retry_at = display.next_deadline()
            if retry_at is None:
                self._wake.wait()
                continue
            remaining = retry_at - self._clock.now()
            if remaining <= 0:
                return None
            self._wake.wait(remaining / self._clock.speed)   # a ScaledClock runs faster than real time
        return None
