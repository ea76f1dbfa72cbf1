"""Frames reach the panel, and a failing panel never stops the caller (device/screen/display.py)."""

from __future__ import annotations

import errno
import random
import threading

import pytest
from PIL import Image, ImageDraw

from device.core.clock import MonotonicClock, ScaledClock, VirtualClock
from device.settings.config import Config
from device.screen.display import DisplayWorker, Frame, ResilientDisplay
from device.base.errors import NoHardwareError
from device.core.events import DisplayStatus
from device.settings.routines import load_library
from device.sim.simulator import Simulator
from device.sim.trace import read_trace
from drivers.fakes.i2c import FakeSSD1306Bus
from drivers.oled import OledDisplay

LOOSE_CABLE = OSError(errno.EREMOTEIO, "Remote I/O error")
WAIT = 5.0  # seconds: only a guard so a broken worker fails the test instead of hanging it


def picture(label: str) -> Image.Image:
    image = Image.new("1", (128, 64), 0)
    ImageDraw.Draw(image).text((4, 4), label, fill=255)
    return image


def same_picture(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.tobytes() == b.tobytes()


class Recorder:
    """Collects the ResilientDisplay callbacks."""

    def __init__(self) -> None:
        self.sent: list[Frame] = []
        self.statuses: list[tuple[bool, str]] = []

    def on_sent(self, frame: Frame) -> None:
        self.sent.append(frame)

    def on_status(self, ok: bool, message: str) -> None:
        self.statuses.append((ok, message))


@pytest.fixture
def bus() -> FakeSSD1306Bus:
    return FakeSSD1306Bus()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def display(bus, clock, recorder):
    resilient = ResilientDisplay(lambda: OledDisplay(bus), clock, dim_contrast=9,
                                 on_sent=recorder.on_sent, on_status=recorder.on_status)
    yield resilient
    resilient.close()


# -- frames ---------------------------------------------------------------------------------

def test_frame_rejects_unknown_brightness_and_non_1_bit_images():
    with pytest.raises(ValueError, match="normal, dim, off"):
        Frame(picture("x"), "bright")
    with pytest.raises(ValueError, match='mode "1"'):
        Frame(Image.new("L", (128, 64)), "normal")


# -- ResilientDisplay -----------------------------------------------------------------------

def test_a_pushed_frame_reaches_the_panel_once(bus, display, recorder):
    frame = Frame(picture("4:59"), "normal")
    display.push(frame)
    assert same_picture(bus.image(), frame.image)
    assert recorder.sent == [frame]
    bus.reset_counters()
    display.push(Frame(picture("4:59"), "normal"))  # equal pixels, a new object
    assert bus.bytes_written == 0
    assert recorder.sent == [frame]


def test_the_constructor_does_not_touch_the_panel(bus, clock):
    opened = []
    ResilientDisplay(lambda: opened.append(1) or OledDisplay(bus), clock)
    assert opened == [] and bus.transactions == 0


def test_brightness_is_contrast_and_power(bus, display, recorder):
    image = picture("idle")
    display.push(Frame(image, "dim"))
    assert bus.contrast == 9 and bus.powered
    display.push(Frame(image, "off"))
    assert not bus.powered and bus.image().getbbox() is None
    display.push(Frame(picture("woken"), "normal"))
    assert bus.powered and bus.contrast == 255
    assert same_picture(bus.image(), picture("woken"))
    assert [frame.brightness for frame in recorder.sent] == ["dim", "off", "normal"]


def test_an_outage_is_reported_once_after_a_second_without_frames_and_retried_with_backoff(
        bus, clock, display, recorder):
    display.push(Frame(picture("a"), "normal"))
    bus.fail_with(LOOSE_CABLE)
    display.push(Frame(picture("b"), "normal"))  # must not raise
    assert recorder.statuses == []  # not an outage yet: a person would not notice
    delays, reported_at = [], []
    for _ in range(9):
        delays.append(display.next_deadline() - clock.now())
        clock.advance_to(display.next_deadline())
        display.retry()
        reported_at += [clock.now()] * (len(recorder.statuses) - len(reported_at))
    assert reported_at == [1.0]
    # Said by the last attempt: a fresh panel's probe that nothing acknowledged.
    assert recorder.statuses == [(False, "display not answering: [Errno 6] no SSD1306 answers at I2C address 0x3C")]
    # The outage is judged at 1 s even though the backoff alone would have waited until 1.5 s.
    assert delays == [0.5, 0.5, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert len(recorder.sent) == 1
    bus.recover()
    clock.advance_to(display.next_deadline())
    display.retry()
    assert same_picture(bus.image(), picture("b"))
    answering_since = clock.now()
    # The outage ends once the panel has taken every frame for 10 s.
    assert display.next_deadline() == answering_since + 10.0
    display.push(Frame(picture("c"), "normal"))
    clock.advance_to(display.next_deadline())
    display.retry()
    assert recorder.statuses[1:] == [(True, "display back")]
    assert clock.now() == answering_since + 10.0 and display.next_deadline() is None


def run_display_until(display: ResilientDisplay, clock: VirtualClock, until: float) -> None:
    """What the app's loop does with the display's deadlines, up to `until`."""
    while (deadline := display.next_deadline()) is not None and deadline <= until:
        clock.advance_to(deadline)
        display.retry()
    clock.advance_to(until)


def test_a_flapping_panel_is_one_outage_until_it_has_answered_for_ten_seconds(bus, clock, display, recorder):
    """A loose connector that the motor shakes: 2 s dark, 3 s fine, over and over."""
    for cycle in range(6):
        start = clock.now()
        bus.fail_with(LOOSE_CABLE)
        display.push(Frame(picture(f"dark {cycle}"), "normal"))
        run_display_until(display, clock, start + 2.0)
        bus.recover()
        answered_at = display.next_deadline()   # the pending retry gets through
        for second in range(3):
            display.push(Frame(picture(f"fine {cycle}.{second}"), "normal"))
            run_display_until(display, clock, start + 3.0 + second)
    assert [ok for ok, _ in recorder.statuses] == [False]
    assert display.next_deadline() == answered_at + 10.0
    run_display_until(display, clock, answered_at + 10.0)
    assert [ok for ok, _ in recorder.statuses] == [False, True] and display.next_deadline() is None


def test_a_failed_transfer_that_a_fresh_panel_fixes_at_once_is_not_an_outage(bus, clock, display, recorder):
    display.push(Frame(picture("a"), "normal"))
    failures = iter([LOOSE_CABLE])

    def glitch_once(payload):
        error = next(failures, None)
        if error is not None:
            raise error
    bus.before_write = glitch_once
    display.push(Frame(picture("b"), "normal"))
    assert next(failures, None) is None  # the glitch happened
    assert recorder.statuses == [] and display.is_ok and display.next_deadline() is None
    assert same_picture(bus.image(), picture("b"))


@pytest.mark.parametrize("error", [RuntimeError("I2C bus used after deinit()"), ValueError("bad byte")])
def test_any_exception_from_the_bus_is_a_panel_failure(bus, clock, display, recorder, error):
    display.push(Frame(picture("a"), "normal"))
    bus.fail_with(error)
    display.push(Frame(picture("b"), "normal"))  # must not raise
    while not recorder.statuses:
        clock.advance_to(display.next_deadline())
        display.retry()
    assert [ok for ok, _ in recorder.statuses] == [False] and clock.now() == 1.0
    bus.recover()
    while display.next_deadline() is not None:
        clock.advance_to(display.next_deadline())
        display.retry()
    assert recorder.statuses[-1] == (True, "display back") and same_picture(bus.image(), picture("b"))


def test_pushes_while_failing_keep_only_the_newest_and_leave_the_bus_alone(bus, clock, display, recorder):
    bus.fail_with(LOOSE_CABLE)
    display.push(Frame(picture("a"), "normal"))
    attempts = bus.failed_transactions
    display.push(Frame(picture("b"), "normal"))
    display.push(Frame(picture("c"), "dim"))
    assert bus.failed_transactions == attempts
    bus.recover()
    clock.advance_to(display.next_deadline())
    display.retry()
    assert [same_picture(frame.image, picture("c")) for frame in recorder.sent] == [True]
    assert same_picture(bus.image(), picture("c")) and bus.contrast == 9
    assert recorder.statuses == []  # back within a second: never an outage
    assert display.is_ok and display.next_deadline() is None


def test_retry_before_its_time_does_nothing(bus, clock, display):
    bus.fail_with(LOOSE_CABLE)
    display.push(Frame(picture("a"), "normal"))
    bus.recover()
    clock.advance(0.49)
    display.retry()
    assert bus.image().getbbox() is None
    assert display.next_deadline() == 0.5


def test_reinit_after_a_power_glitch_restores_the_exact_picture(bus, clock, display):
    display.push(Frame(picture("before"), "normal"))
    bus.fail_with(LOOSE_CABLE)
    bus.reset_controller(garbage=True)  # the panel lost power: registers reset, RAM is noise
    display.push(Frame(picture("after"), "dim"))
    bus.recover()
    clock.advance_to(display.next_deadline())
    display.retry()
    assert same_picture(bus.image(), picture("after"))
    assert bus.powered and bus.contrast == 9 and bus.com_scan_reversed


def test_backoff_starts_again_after_a_recovery(bus, clock, display):
    bus.fail_with(LOOSE_CABLE)
    display.push(Frame(picture("a"), "normal"))
    clock.advance_to(display.next_deadline())
    display.retry()  # second failure: next wait is 1 s
    bus.recover()
    clock.advance_to(display.next_deadline())
    display.retry()
    bus.fail_with(LOOSE_CABLE)
    display.push(Frame(picture("b"), "normal"))
    assert display.next_deadline() - clock.now() == 0.5


def test_a_panel_missing_at_start_is_retried(bus, clock, display, recorder):
    bus.fail_with(LOOSE_CABLE)  # the probe in OledDisplay's constructor fails
    display.push(Frame(picture("a"), "normal"))
    assert not display.is_ok
    bus.recover()
    clock.advance_to(display.next_deadline())
    display.retry()
    assert display.is_ok and same_picture(bus.image(), picture("a"))


def test_no_hardware_is_reported_once_and_never_retried(clock, recorder):
    def no_bus():
        raise NoHardwareError("no I2C bus 1")

    display = ResilientDisplay(no_bus, clock, on_status=recorder.on_status)
    display.push(Frame(picture("a"), "normal"))
    display.push(Frame(picture("b"), "normal"))
    assert recorder.statuses == [(False, "no I2C bus 1")]
    assert display.next_deadline() is None


def test_close_clears_the_panel_once_and_ignores_later_frames(bus, display, recorder):
    display.push(Frame(picture("a"), "normal"))
    display.close()
    assert not bus.powered and bus.gddram() == bytes(1024)
    bus.reset_counters()
    display.close()
    display.push(Frame(picture("b"), "normal"))
    assert bus.transactions == 0 and len(recorder.sent) == 1


# -- a failing panel over a whole routine (the simulator on the virtual clock) -----------------

CUES = ("zone_start", "switch_side", "session_done")


@pytest.fixture
def daily(tmp_path):
    """Makes simulators that play the built-in daily routine; closes them afterwards."""
    made = []

    def make() -> Simulator:
        sim = Simulator(Config(), list(load_library(None).routines), routine_name="daily",
                        trace_path=tmp_path / f"trace{len(made)}.jsonl")
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


def trace_of(sim: Simulator) -> list[dict]:
    sim.trace.close()
    return list(read_trace(sim.trace_path))


def played(trace, *patterns) -> list[tuple[float, str]]:
    return [(e["t"], e["pattern"]) for e in trace if e["event"] == "haptic" and e["pattern"] in patterns]


def outages(trace) -> list[tuple[float, float | None]]:
    """(went, came back) of each outage the display reported."""
    spans = []
    for e in trace:
        if e["event"] == "display" and not e["ok"]:
            spans.append((e["t"], None))
        elif e["event"] == "display" and e["ok"]:
            spans[-1] = (spans[-1][0], e["t"])
    return spans


def run_to(sim: Simulator, seconds: float) -> None:
    sim.clock.call_at(seconds, lambda: None)
    sim.app.run(sim.events, until=lambda: sim.clock.now() >= seconds)


@pytest.fixture
def healthy_cues(daily):
    sim = daily()
    assert sim.run_headless([(1.0, "press")]) == 0
    cues = played(trace_of(sim), *CUES)
    assert len(cues) == 15  # 9 zones, 5 of them two-sided, and the end
    return cues


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_panel_failing_one_transfer_in_a_hundred_buzzes_once_per_outage_and_drops_no_cue(
        daily, healthy_cues, seed):
    sim = daily()
    chance, failed = random.Random(seed), []

    def flaky(payload: bytes) -> None:
        if chance.random() < 0.01:
            failed.append(payload)
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
    sim.bus.before_write = flaky
    assert sim.run_headless([(1.0, "press")]) == 0
    trace = trace_of(sim)
    assert len(failed) >= 30  # the panel really did fail, all through the routine
    assert played(trace, *CUES) == healthy_cues
    # One error pattern per outage, played while that outage lasts; most glitches are no outage.
    errors = [t for t, _ in played(trace, "error")]
    spans = outages(trace)
    assert len(errors) == len(spans) and len(spans) * 10 <= len(failed)
    assert all(went <= t and (back is None or t < back) for t, (went, back) in zip(errors, spans))


@pytest.mark.parametrize("error", [RuntimeError("bus glitch"), ValueError("bad byte")], ids=type)
def test_a_bus_raising_anything_mid_routine_is_one_outage_and_the_routine_completes(
        daily, healthy_cues, error):
    sim = daily()
    sim.schedule(1.0, "press")
    run_to(sim, 100.0)
    sim.bus.fail_with(error)
    run_to(sim, 200.0)
    sim.bus.recover()
    assert sim.run_headless([]) == 0
    trace = trace_of(sim)
    assert played(trace, *CUES) == healthy_cues
    assert len(played(trace, "error")) == len(outages(trace)) == 1


def test_a_connector_that_flaps_all_through_a_zone_buzzes_once(daily, healthy_cues):
    sim = daily()
    for dark in range(100, 160, 5):           # 2 s dark every 5 s for a minute
        sim.clock.call_at(dark, lambda: sim.bus.fail_with(LOOSE_CABLE))
        sim.clock.call_at(dark + 2, sim.bus.recover)
    assert sim.run_headless([(1.0, "press")]) == 0
    trace = trace_of(sim)
    assert played(trace, *CUES) == healthy_cues
    assert len(played(trace, "error")) == len(outages(trace)) == 1


def test_the_error_pattern_waits_for_the_cue_under_way(daily):
    sim = daily()
    sim.schedule(1.0, "press")
    sim.clock.call_at(1.6, lambda: sim.events.put(DisplayStatus(False, "display not answering")))
    run_to(sim, 5.0)
    trace = trace_of(sim)
    zone_start = played(trace, "zone_start")[0][0]
    assert zone_start < 1.6
    assert played(trace, "error") == [(pytest.approx(zone_start + 0.35 + 0.12 + 0.09), "error")]


def test_a_screen_back_before_the_cue_ends_is_never_buzzed(daily):
    sim = daily()
    sim.schedule(1.0, "press")
    sim.clock.call_at(1.6, lambda: sim.events.put(DisplayStatus(False, "display not answering")))
    sim.clock.call_at(1.8, lambda: sim.events.put(DisplayStatus(True, "display back")))
    run_to(sim, 5.0)
    trace = trace_of(sim)
    assert played(trace, "zone_start") and not played(trace, "error")


# -- DisplayWorker --------------------------------------------------------------------------

class Gate:
    """Holds the bus inside its next data write until released: a slow panel, without sleeps."""

    def __init__(self, bus: FakeSSD1306Bus) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.armed = False
        bus.before_write = self._before_write

    def _before_write(self, payload: bytes) -> None:
        if self.armed and payload[:1] == b"\x40":
            self.armed = False
            self.entered.set()
            self.release.wait(WAIT)


class SentEvents(Recorder):
    """A Recorder that also signals when a frame with a given label has been sent."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def on_sent(self, frame: Frame) -> None:
        with self.changed:
            super().on_sent(frame)
            self.changed.notify_all()

    def on_status(self, ok: bool, message: str) -> None:
        with self.changed:
            super().on_status(ok, message)
            self.changed.notify_all()

    def wait_for(self, predicate) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, WAIT)


def test_worker_sends_only_the_newest_of_the_frames_pushed_while_the_panel_is_busy(bus):
    events = SentEvents()
    clock = MonotonicClock()
    resilient = ResilientDisplay(lambda: OledDisplay(bus), clock, on_sent=events.on_sent)
    gate = Gate(bus)
    warm_up, slow, stale, newest = (Frame(picture(label), "normal") for label in ("w", "a", "b", "c"))
    with DisplayWorker(resilient, clock) as worker:
        worker.push(warm_up)  # opens and initialises the panel
        assert events.wait_for(lambda: warm_up in events.sent)
        gate.armed = True
        worker.push(slow)
        assert gate.entered.wait(WAIT)  # the worker is stuck in the bus with frame "a"
        worker.push(stale)
        worker.push(newest)
        gate.release.set()
        assert events.wait_for(lambda: newest in events.sent)
        assert events.sent == [warm_up, slow, newest]
        assert same_picture(bus.image(), newest.image)


def test_worker_retries_a_failed_panel_on_its_own(bus):
    events = SentEvents()
    clock = MonotonicClock()
    resilient = ResilientDisplay(lambda: OledDisplay(bus), clock, first_retry=0.01,
                                 outage_after=0.0, steady_after=0.0, on_sent=events.on_sent,
                                 on_status=events.on_status)
    frame = Frame(picture("a"), "normal")
    with DisplayWorker(resilient, clock) as worker:
        assert worker.next_deadline() is None
        bus.fail_with(LOOSE_CABLE)
        worker.push(frame)
        assert events.wait_for(lambda: events.statuses)
        bus.recover()
        assert events.wait_for(lambda: frame in events.sent)
        # The status is told after the frame (on the worker's thread): wait for it too.
        assert events.wait_for(lambda: events.statuses[-1] == (True, "display back"))
        assert same_picture(bus.image(), frame.image)


def test_worker_waits_for_a_retry_by_the_clock_it_is_given(bus):
    """A retry 1000 clock seconds away on a clock 1000 times faster than real time comes a real
    second later (a worker that ignored the clock's speed would wait 1000 s and fail here)."""
    events = SentEvents()
    clock = ScaledClock(1000.0)
    clock.start()
    resilient = ResilientDisplay(lambda: OledDisplay(bus), clock, first_retry=1000.0, max_retry=1000.0,
                                 outage_after=0.0, steady_after=0.0, on_sent=events.on_sent,
                                 on_status=events.on_status)
    frame = Frame(picture("a"), "normal")
    with DisplayWorker(resilient, clock) as worker:
        bus.fail_with(LOOSE_CABLE)
        worker.push(frame)
        assert events.wait_for(lambda: events.statuses)
        bus.recover()
        assert events.wait_for(lambda: frame in events.sent)   # within WAIT real seconds
    clock.close()


def test_worker_close_stops_the_thread_and_clears_the_panel(bus):
    events = SentEvents()
    clock = MonotonicClock()
    resilient = ResilientDisplay(lambda: OledDisplay(bus), clock, on_sent=events.on_sent)
    running = set(threading.enumerate())
    worker = DisplayWorker(resilient, clock)
    started = set(threading.enumerate()) - running   # the worker's own thread
    frame = Frame(picture("a"), "normal")
    worker.push(frame)
    assert events.wait_for(lambda: frame in events.sent)
    assert started and all(thread.is_alive() for thread in started)
    worker.close()
    assert not any(thread.is_alive() for thread in started)
    assert not bus.powered and bus.gddram() == bytes(1024)
    worker.close()
    worker.push(Frame(picture("b"), "normal"))
    assert events.sent == [frame]


def test_worker_close_still_sends_the_last_frame_pushed(bus):
    """The "Off" screen pushed just before shutdown must reach the panel before it is cleared."""
    events = SentEvents()
    clock = MonotonicClock()
    resilient = ResilientDisplay(lambda: OledDisplay(bus), clock, on_sent=events.on_sent)
    gate = Gate(bus)
    first, last = Frame(picture("a"), "normal"), Frame(picture("off"), "normal")
    worker = DisplayWorker(resilient, clock)
    worker.push(Frame(picture("w"), "normal"))
    assert events.wait_for(lambda: len(events.sent) == 1)
    gate.armed = True
    worker.push(first)
    assert gate.entered.wait(WAIT)       # the worker is busy on the bus with "a"
    worker.push(last)
    closer = threading.Thread(target=worker.close)
    closer.start()
    gate.release.set()
    closer.join(WAIT)
    assert [f for f in events.sent][-1] is last
