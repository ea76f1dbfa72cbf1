"""`facepace run`: the firmware on a Raspberry Pi's real pins and bus (or, for the tests, on any
`Parts` handed to `serve`)."""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Callable, Sequence

from device.core.assemble import SESSION_STATES, Service, assemble
from device.core.parts import Parts, real_parts
from device.service.board import require_raspberry_pi
from device.settings.paths import runtime_dir, stick_inbox

log = logging.getLogger("facepace")

OFF_SCREEN_SECONDS = 0.5   # how long "Off" stays up before the panel is cleared


def main(config, routines, notices) -> int:
    """`facepace run` on the real pins and I2C bus."""
    from device.service.sdnotify import Notifier
    from device.service.selftest import SELFTEST_LONGEST_SECONDS, selftest_if_held

    model = require_raspberry_pi()
    log.info("starting on %s", model)
    parts = real_parts(config)

    def allow_time() -> None:   # the self-test outlasts TimeoutStartSec
        with closing(Notifier.from_environment()) as notifier:
            notifier.notify(f"EXTEND_TIMEOUT_USEC={int(SELFTEST_LONGEST_SECONDS * 1_000_000)}")

    # Held at start: the wiring check, then the device.
    selftest_if_held(config, parts, say=log.warning, on_held=allow_time)
    return serve(config, routines, notices, parts=parts)


def serve(config, routines, notices, *, parts: Parts, services: Sequence[Service] = (),
          traces: Sequence[Callable[..., None]] = ()) -> int:
    """Run on `parts` until SIGTERM (or a bug): the firmware loop with its threads, log and systemd
    hooks. `services` run on the loop beside the firmware's own; `traces` hear the app's trace
    after the journal does (tests plant misbehaviour through both)."""
    from device.base.gil import share_the_interpreter_quickly
    from device.core.events import Stop
    from device.service.export_status import ExportStatusWatcher
    from device.service.sdnotify import Notifier
    from device.service.sync_link import SyncLink
    from device.service.watchdog import WatchdogFeeder

    share_the_interpreter_quickly()   # a cue never waits long for a render's thread
    events: queue.SimpleQueue = queue.SimpleQueue()   # put() is safe in a signal handler
    signal.signal(signal.SIGTERM, lambda *_: events.put(Stop("SIGTERM")))
    notifier = Notifier.from_environment()
    # The sync is a process of its own (facepace-sync.service): its progress, the host's clock
    # and the person's questions come through the link; it is told when a session is on.
    link = SyncLink.listen(runtime_dir(), send=events.put, wall_clock=parts.wall_clock)
    with closing(notifier), closing(link):
        ready = Readiness(notifier.ready)
        own_services = [ready, WatchdogFeeder(notifier, parts.clock),
                        ExportStatusWatcher(runtime_dir() / "export-status", events.put), link]
        with assemble(config, routines, parts, events=events, traces=[_log_event, *traces], notices=notices,
                      services=[*own_services, *services], display_thread=True,
                      stick_inbox=stick_inbox(),
                      on_frame_sent=lambda frame: ready.panel_answered(),
                      on_display_status=lambda ok, message: ready.panel_answered(),
                      request_power_off=request_power_off, safety_pages=True) as device:
            link.on_clock = device.recorder.session_log.note_clock_set_by_host
            link.in_session = lambda: device.app.state in SESSION_STATES
            if device.settings is not None:
                link.on_stored = device.settings.changed   # read from the store the sync process wrote
            link.start()
            device.run()
            notifier.stopping()
            time.sleep(OFF_SCREEN_SECONDS)
    log.info("stopped cleanly")
    return 0


class Readiness:
    """READY=1 once the loop serves and the panel has shown its first frame (the splash) or
    failed: the device is on for the person and takes a press at once. A dead panel must not
    keep the device from starting, and a press must not wait for the log's check or the imports
    behind the splash (issue 12). A loop service; the panel's news come from the display's thread."""

    def __init__(self, send_ready: Callable[[], None]) -> None:
        self._send_ready = send_ready
        self._lock = threading.Lock()
        self._waiting_for = {"loop", "panel"}

    def panel_answered(self) -> None:   # every frame: after READY, nothing to do
        if self._waiting_for:
            self._arrived("panel")

    def next_deadline(self) -> None:
        return None

    def poll(self, now: float) -> None:
        if self._waiting_for:
            self._arrived("loop")

    def _arrived(self, what: str) -> None:
        with self._lock:
            if not self._waiting_for:
                return
            self._waiting_for.discard(what)
            if self._waiting_for:
                return
        self._send_ready()


def request_power_off(folder: Path | None = None) -> None:
    """Ask the root helper unit (facepace-poweroff.path) to power the Pi off; we don't run as root."""
    folder = folder or runtime_dir()
    try:
        (folder / "poweroff").touch()
    except OSError as error:
        log.error("cannot request power off in %s: %s", folder, error)


def _log_event(event: str, **fields) -> None:
    details = " ".join(f"{key}={value}" for key, value in fields.items())
    level = logging.DEBUG if event in ("haptic", "frame") else logging.INFO
    log.log(level, "%s %s", event, details)

