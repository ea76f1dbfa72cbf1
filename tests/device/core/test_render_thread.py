"""With a display thread (the firmware's), frames are rendered there, never on the loop: a render
takes 12-35 ms of a Pi's CPU, and a cue or a click due meanwhile would wait for it (issue 12).
Watched with Python's profile hook (which thread calls `screens.render`), on the simulated parts."""

import os
import sys
import threading
from pathlib import Path

from PIL import Image, ImageChops

from device.core.assemble import assemble
from device.core.clock import VirtualClock
from device.core.events import Stop
from device.core.parts import simulated_parts
from device.screen import screens
from device.settings.config import Config
from device.settings.routines import load_library

REFERENCE = Image.open(Path(__file__).parents[2] / "reference" / "idle_first_time.png")
GUARD_SECONDS = 30.0   # a frame the display thread never sends is a failure, not a hang


def same_picture(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a.convert("1"), b.convert("1")).getbbox() is None


class Sent:
    """Frames the display thread got onto the panel, counted for the test's thread to wait on."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self, frame) -> None:
        self.nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.count >= count, GUARD_SECONDS)

    def wait_until(self, shown) -> None:
        with self._changed:
            assert self._changed.wait_for(shown, GUARD_SECONDS)


def test_the_display_thread_renders_every_frame_and_the_loop_none():
    config, clock = Config(), VirtualClock()
    parts = simulated_parts(config, clock)
    rendered_on: list[str] = []

    def watch(frame, event, arg):
        if event == "call" and frame.f_code is screens.render.__code__:
            rendered_on.append((threading.current_thread().name, type(frame.f_locals["view"]).__name__))

    sent = Sent()
    threading.setprofile(watch)   # the display thread starts after this
    sys.setprofile(watch)         # this thread runs the loop
    try:
        with assemble(config, list(load_library(None).routines), parts, display_thread=True,
                      on_frame_sent=sent) as device:
            loop_thread = threading.current_thread().name
            device.run(until=lambda: True)                   # one pass: the idle frame handed over
            # the same pixels as rendered inline, after the splash
            sent.wait_until(lambda: same_picture(parts.bus.image(), REFERENCE))
            frames_so_far = sent.count
            button = parts.pins.pin(config.button.pin)
            clock.call_at(1.0, button.drive_low)
            clock.call_at(1.12, button.drive_high)
            clock.call_at(3.0, lambda: None)
            device.run(until=lambda: clock.now() >= 3.0)       # a session starts: new frames
            sent.wait_for(frames_so_far + 1)
            assert not same_picture(parts.bus.image(), REFERENCE)
            device.events.put(Stop("test"))
            device.run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    # The splash, on the builder's thread before the display's thread starts; then every frame there.
    assert rendered_on[0] == (loop_thread, "StartingView")
    assert len(rendered_on) > 1 and {thread for thread, _ in rendered_on[1:]} == {"facepace-display"}
    # and at a lower priority than the loop: a render never keeps a cue waiting for the CPU
    assert sent.nice > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
