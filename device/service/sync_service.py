"""`facepace sync-serve`: the sync server in a process of its own, and its end of the channel.

facepace-sync.service runs this beside the firmware (lower CPU weight, nicer, same sandbox),
so a sync of any size or a flood on the USB port costs the pacing loop nothing. The server is
`device.sync.server.SyncServer`, on a thread as in any other use; this module adds what the
firmware used to get by sharing its objects (`device.sync.channel` carries it):

- every `SyncStatus` goes to the firmware (the "Syncing n/N" screen);
- a host's clock correction goes to the firmware when a host sets it (the firmware dates
  new sessions with it; this process fixes the dates already in the log, as before);
- on the firmware's `Hello` (it has restarted), the correction again and a sync in progress;
- on its own start it says `Hello`, and adopts the correction the firmware answers with,
  unless a host has set one here first.

Without a firmware to talk to (not started yet, restarting, or none: a bench) it serves
the same; the channel only logs that nobody listens.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

from device.log.clockfix import HostWallClock
from device.log.sessionlog import SessionLog
from device.sync.channel import MAX_TEXT, Channel, Clock, Hello, SyncStatus

logger = logging.getLogger(__name__)

IDLE_WAKE = 5.0   # seconds: the channel loop checks for a stop this often even if a wake-up is lost


def open_channel(own: Path, peer: Path) -> Channel | None:
    """The channel, or None (logged) if its socket cannot be made: syncing matters more."""
    try:
        return Channel(own, peer)
    except OSError as error:
        logger.warning("sync channel: cannot listen on %s (%s); the screen will not show syncs", own, error)
        return None


class SyncService:
    """`service.run(log)` serves until `stop()` (from a signal handler, say); then `close()`."""

    def __init__(self, port: str, channel: Channel | None, **server_options) -> None:
        self.port = port
        self.channel = channel
        self.wall_clock = HostWallClock(on_set=self._clock_set)
        self._server_options = server_options
        self._last_status: SyncStatus | None = None
        self._stopping = threading.Event()
        self.server = None

    def run(self, log: SessionLog) -> None:
        from device.sync.server import OWN_PROCESS, SyncServer

        # Short rests: the kernel keeps the pacing loop first (facepace-sync.service's weight, nice).
        options = {"rest_ratio": OWN_PROCESS, **self._server_options}
        self.server = SyncServer(self.port, log, wall_clock=self.wall_clock, on_status=self._status,
                                 **options).start()
        try:
            if self.channel is None:
                self._stopping.wait()
                return
            self.channel.send(Hello())
            while not self._stopping.is_set():
                try:
                    for message in self.channel.receive_batch(timeout=IDLE_WAKE):
                        self.handle(message)
                except Exception:   # the sync goes on without the screen rather than stop
                    logger.exception("sync channel error")
        finally:
            self.server.close()

    def stop(self) -> None:
        """Safe in a signal handler: sets a flag and wakes the channel loop."""
        self._stopping.set()
        if self.channel is not None:
            self.channel.wake()

    def close(self) -> None:
        self.stop()
        if self.server is not None:
            self.server.close()
        if self.channel is not None:
            self.channel.close()

    def handle(self, message) -> None:
        if isinstance(message, Hello):
            logger.info("firmware (re)started; telling it what it missed")
            if self.wall_clock.set_by_host:
                self.channel.send(Clock(self.wall_clock.offset))
            last = self._last_status
            if last is not None and last.state == "syncing":
                self.channel.send(last)
        elif isinstance(message, Clock) and not self.wall_clock.set_by_host:
            # A correction a host gave before this process (re)started; a host's own wins.
            self.wall_clock.adopt(message.offset)
            logger.info("clock correction %+.1f s taken from the firmware", message.offset)

    def _status(self, status: SyncStatus) -> None:
        """From the server's thread."""
        if status.state != "syncing" or self._last_status is None or self._last_status.state != "syncing":
            logger.info("%s", status.text or status.state)
        self._last_status = status
        if self.channel is not None:
            self.channel.send(replace(status, message=status.message[:MAX_TEXT]))

    def _clock_set(self, offset: float) -> None:
        """From the server's thread, when a host's time was taken."""
        if self.channel is not None:
            self.channel.send(Clock(offset))
