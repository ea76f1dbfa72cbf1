"""The firmware's end of the sync channel: what the sync service tells it, onto the loop's queue.

The sync protocol is served by a process of its own (`facepace sync-serve`, run by
facepace-sync.service at a lower CPU weight), so a sync of any size never competes with the
pacing loop for the interpreter. The firmware keeps only this thread, which waits on the
channel (`device.sync.channel`) and costs nothing while no sync runs:

- a `SyncStatus` becomes the loop's `SyncProgress` or `Notice` event (`sync_event`); a burst
  is handled in one go, and only its newest progress is passed on (the screen shows the
  newest anyway, and each progress event makes the app re-read the log's overview);
- a `Clock` is the host's correction: the firmware's `HostWallClock` adopts it, so sessions
  begun from then on are dated by it (and `on_clock` tells the session log they are trusted);
- a `Hello` means the sync service has (re)started: a sync it was serving is over
  ("Sync interrupted"), and it is told the clock correction if the firmware has one.

The firmware sends its own `Hello` at start, so a restarted firmware gets the correction back.
Either side may die and restart at any time; neither waits for the other.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from device.core.assemble import sync_event
from device.core.events import Notice
from device.log.clockfix import HostWallClock
from device.sync.channel import FIRMWARE_SOCKET_NAME, Channel, Clock, Hello, SyncStatus, sync_socket

logger = logging.getLogger(__name__)

MIN_GAP = 0.05      # seconds between batches: a flood of statuses is at most 20 events a second
IDLE_WAKE = 5.0     # seconds: the thread checks for a stop this often even if a wake-up is lost
INTERRUPTED = "Sync interrupted"


class SyncLink:
    """`SyncLink(channel, send=events.put, wall_clock=clock).start()`; `close()` is safe twice."""

    @classmethod
    def listen(cls, runtime_folder: Path, **options) -> "SyncLink":
        """A started link on `runtime_folder`/firmware.sock, or an idle one (logged) if the socket
        cannot be made: no sync on the screen then, but the device still paces."""
        try:
            channel = Channel(runtime_folder / FIRMWARE_SOCKET_NAME, sync_socket())
        except OSError as error:
            logger.warning("cannot listen for the sync service in %s: %s", runtime_folder, error)
            return cls(None, **options)
        return cls(channel, **options).start()

    def __init__(self, channel: Channel | None, *, send: Callable[[object], None], wall_clock: HostWallClock,
                 on_clock: Callable[[], None] | None = None, min_gap: float = MIN_GAP) -> None:
        self.channel = channel
        self._send = send
        self.wall_clock = wall_clock
        self._on_clock = on_clock
        self._min_gap = min_gap
        self._syncing = False     # the last status was progress: a restart of the service ends it
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "SyncLink":
        if self._thread is None and self.channel is not None:
            self._thread = threading.Thread(target=self.run, name="facepace-sync-link", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            self.channel.wake()
            thread.join(timeout=1.0)
        if self.channel is not None:
            self.channel.close()

    def run(self) -> None:
        self.channel.send(Hello())
        while not self._stopping.is_set():
            try:
                self.handle(self.channel.receive_batch(timeout=IDLE_WAKE))
            except Exception:   # never let the firmware's link die: the next datagram may be fine
                logger.exception("sync link error")
            self._stopping.wait(self._min_gap)

    def handle(self, messages) -> None:
        """One batch, oldest first: progress that a later status replaces is skipped."""
        for index, message in enumerate(messages):
            if isinstance(message, SyncStatus):
                later = messages[index + 1:]
                if message.state == "syncing" and any(isinstance(m, SyncStatus) for m in later):
                    continue
                self._syncing = message.state == "syncing"
                self._put(sync_event(message))
            elif isinstance(message, Clock):
                self.wall_clock.adopt(message.offset)
                if self._on_clock is not None:
                    self._on_clock()
                logger.info("clock set by a host through the sync service (correction %+.1f s)",
                            message.offset)
            elif isinstance(message, Hello):
                logger.info("sync service (re)started")
                if self._syncing:
                    self._syncing = False
                    self._put(Notice(INTERRUPTED))
                if self.wall_clock.set_by_host:
                    self.channel.send(Clock(self.wall_clock.offset))

    def _put(self, event) -> None:
        if event is not None:
            self._send(event)
