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
  unless a host has set one here first;
- the person's say on a change from the computer: the desk (`device.sync.ownerdesk`, on the
  owner store in the state folder) `Ask`s the firmware's screen, the firmware's `Answer`
  settles the question, a stored change is announced (`Stored`), and the firmware's `Busy`
  tells the desk a session is on (the computer is told `busy`). A firmware that stops or
  restarts while a question waits ends it `failed`: nobody is left to answer it.

Without a firmware to talk to (not started yet, restarting, or none: a bench) it serves
the same; the channel only logs that nobody listens.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from device.log.clockfix import HostWallClock
from device.log.sessionlog import SessionLog
from device.sync.channel import (MAX_PROMPT, MAX_TEXT, Answer, Ask, Busy, Channel, Clock, Hello, Stored, SyncStatus,
                                 Withdraw)

logger = logging.getLogger(__name__)

IDLE_WAKE = 5.0   # seconds: the channel loop checks for a stop this often even if a wake-up is lost
ASKING_WAKE = 1.0  # seconds: while a question waits, how often the firmware is checked for
FIRMWARE_GONE = "the device's firmware stopped before the person answered"
FIRMWARE_RESTARTED = "the device restarted before the person answered"
VERDICT = {"yes": True, "no": False, "none": None}
# Seconds between clock corrections told to the firmware: a host that sets the time over and
# over (a flood) wakes it once a second; the newest correction waits its turn, never lost.
CLOCK_GAP = 1.0


@dataclass(frozen=True)
class Owner:
    """What the desk for the person's changes needs: the config without the computer's settings
    (defaults < /etc), the routines that are not the person's, and the state folder."""

    base: object
    others: list
    state_dir: Path


def open_channel(own: Path, peer: Path) -> Channel | None:
    """The channel, or None (logged) if its socket cannot be made: syncing matters more."""
    try:
        return Channel(own, peer)
    except OSError as error:
        logger.warning("sync channel: cannot listen on %s (%s); the screen will not show syncs", own, error)
        return None


class SyncService:
    """`service.run(log)` serves until `stop()` (from a signal handler, say); then `close()`."""

    def __init__(self, port: str, channel: Channel | None, *, owner: Owner | None = None, **server_options) -> None:
        self.port = port
        self.channel = channel
        self.wall_clock = HostWallClock(on_set=self._clock_set)
        self._server_options = server_options
        self._last_status: SyncStatus | None = None
        self._stopping = threading.Event()
        self.server = None
        self.desk = None if owner is None or channel is None else self._desk(owner)
        self._busy = False                      # the firmware's word: a session is on
        self._status_lock = threading.Lock()
        self._held_status: SyncStatus | None = None   # the newest, kept while a session is on
        self._question_ids = itertools.count(1)
        self._asked = None                      # (id, Question) on the firmware's screen
        self._clock_lock = threading.Lock()
        self._clock_waiting: float | None = None  # a host's correction not told yet (CLOCK_GAP)
        self._clock_told_at = -math.inf

    def _desk(self, owner: Owner):
        from device.core.owned import ANSWER_GRACE, OWNER_FOLDER
        from device.settings.ownerstore import OwnerStore
        from device.sync.ownerdesk import ANSWER_WITHIN, OwnerDesk

        return OwnerDesk(OwnerStore(owner.state_dir / OWNER_FOLDER), base=owner.base, others=owner.others,
                         ask=self._ask, in_session=lambda: self._busy,
                         on_change=lambda owned: self.channel.send(Stored()),
                         answer_within=ANSWER_WITHIN, grace=ANSWER_GRACE)

    def run(self, log: SessionLog) -> None:
        from device.sync.server import OWN_PROCESS, SyncServer

        # Short rests: the kernel keeps the pacing loop first (facepace-sync.service's weight, nice).
        options = {"rest_ratio": OWN_PROCESS, **self._server_options}
        self.server = SyncServer(self.port, log, wall_clock=self.wall_clock, on_status=self._status,
                                 owner=self.desk, **options).start()
        try:
            if self.channel is None:
                self._stopping.wait()
                return
            self.channel.send(Hello())
            while not self._stopping.is_set():
                try:
                    wake = ASKING_WAKE if self._asked is not None else IDLE_WAKE
                    if self._clock_waiting is not None:
                        wake = min(wake, max(0.0, self._clock_told_at + CLOCK_GAP - time.monotonic()))
                    for message in self.channel.receive_batch(timeout=wake):
                        self.handle(message)
                    self._tell_clock()
                    self._check_the_question()
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
            self._abandon(FIRMWARE_RESTARTED)
            with self._status_lock:
                self._busy, self._held_status = False, None   # until it says otherwise; the last is told below
            if self.wall_clock.set_by_host:
                self.channel.send(Clock(self.wall_clock.offset))
            last = self._last_status
            if last is not None and last.state == "syncing":
                self.channel.send(last)
        elif isinstance(message, Clock) and not self.wall_clock.set_by_host:
            # A correction a host gave before this process (re)started; a host's own wins.
            self.wall_clock.adopt(message.offset)
            logger.info("clock correction %+.1f s taken from the firmware", message.offset)
        elif isinstance(message, Busy):
            with self._status_lock:
                self._busy, held = message.busy, None
                if not message.busy:
                    held, self._held_status = self._held_status, None
            if held is not None:
                self.channel.send(held)
        elif isinstance(message, Answer):
            asked = self._asked
            if asked is not None and asked[0] == message.question:
                self._asked = None
                asked[1].settle(VERDICT[message.verdict])
                logger.info("the person answered %s", message.verdict)
                if self.desk is not None:
                    self.desk.tick()   # stored now, not at the server's next turn

    # --- The person's say, on the firmware's screen ------------------------------------------

    def _ask(self, question) -> None:
        """The desk's `ask` (on the server's thread): raises if the firmware cannot be told,
        and the desk says so to the computer."""
        question_id = next(self._question_ids)
        self._asked = (question_id, question)
        if not self.channel.send(Ask(question_id, question.prompt[:MAX_PROMPT])):
            self._asked = None
            raise ConnectionError("the firmware is not listening")
        logger.info("asked the person: %s", question.prompt)

    def _check_the_question(self) -> None:
        """A question the desk dropped (timed out, the computer gone) leaves the screen; one
        whose firmware stopped ends failed."""
        asked = self._asked
        if asked is None:
            return
        if asked[1].withdrawn or asked[1].answer is not None:
            self._asked = None
            if asked[1].withdrawn:
                self.channel.send(Withdraw(asked[0]))
        elif not self.channel.peer_listening():
            self._abandon(FIRMWARE_GONE)

    def _abandon(self, why: str) -> None:
        if self._asked is not None and self.desk is not None:
            self._asked = None
            logger.warning("question withdrawn: %s", why)
            self.desk.abandon(why)

    def _status(self, status: SyncStatus) -> None:
        """From the server's thread. While a session is on, the firmware's screen shows no sync's
        progress or result (only a failure's notice), and a result makes it read its log again:
        the newest of those waits for the session's end (`Busy(False)`) and wakes it only then."""
        if status.state != "syncing" or self._last_status is None or self._last_status.state != "syncing":
            logger.info("%s", status.text or status.state)
        self._last_status = status
        if self.channel is None:
            return
        status = replace(status, message=status.message[:MAX_TEXT])
        with self._status_lock:
            if self._busy and status.state in ("syncing", "synced"):
                self._held_status = status
                return
            self._held_status = None   # this one is newer
        self.channel.send(status)

    def _clock_set(self, offset: float) -> None:
        """From the server's thread, when a host's time was taken: told now, or by the channel
        loop once CLOCK_GAP has passed (woken to wait for it)."""
        if self.channel is None:
            return
        with self._clock_lock:
            first_waiting = self._clock_waiting is None
            self._clock_waiting = offset
        if not self._tell_clock() and first_waiting:
            self.channel.wake()

    def _tell_clock(self) -> bool:
        """The waiting correction to the firmware if CLOCK_GAP has passed; True if it was told."""
        with self._clock_lock:
            offset, now = self._clock_waiting, time.monotonic()
            if offset is None or now - self._clock_told_at < CLOCK_GAP:
                return False
            self._clock_waiting, self._clock_told_at = None, now
        self.channel.send(Clock(offset))
        return True
