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
- an `Ask` becomes the loop's `ChangeAsked`: the screen asks the person, and its answer goes
  back as an `Answer` (yes, no, or none when nobody answered); a `Withdraw` takes it off the
  screen (the computer went away first);
- `Stored`: the person accepted a change and the sync process stored it; `on_stored()` gives
  the loop what the device now runs on (read from the store), applied in idle;
- a `Hello` means the sync service has (re)started: a sync it was serving is over
  ("Sync interrupted"), a question it asked leaves the screen (`QuestionWithdrawn`), and it is
  told the clock correction if the firmware has one, and whether a session is on.

It is also a loop service: `poll` sees the app enter or leave a session (`in_session()`) and
this thread tells the sync process (`Busy`), whose desk then tells the computer `busy`.

The firmware sends its own `Hello` at start, so a restarted firmware gets the correction back.
Either side may die and restart at any time; neither waits for the other.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from device.core.assemble import sync_event
from device.core.events import ChangeAsked, Notice, QuestionWithdrawn
from device.log.clockfix import HostWallClock
from device.sync.channel import (FIRMWARE_SOCKET_NAME, Answer, Ask, Busy, Channel, Clock, Hello, Stored, SyncStatus,
                                 Withdraw, sync_socket)

logger = logging.getLogger(__name__)

MIN_GAP = 0.05      # seconds between batches: a flood of statuses is at most 20 events a second
IDLE_WAKE = 5.0     # seconds: the thread checks for a stop this often even if a wake-up is lost
INTERRUPTED = "Sync interrupted"


class SyncLink:
    """`SyncLink(channel, send=events.put, wall_clock=clock).start()`; `close()` is safe twice."""

    @classmethod
    def listen(cls, runtime_folder: Path, **options) -> "SyncLink":
        """A link on `runtime_folder`/firmware.sock (`start()` it), or an idle one (logged) if
        the socket cannot be made: no sync on the screen then, but the device still paces."""
        try:
            channel = Channel(runtime_folder / FIRMWARE_SOCKET_NAME, sync_socket())
        except OSError as error:
            logger.warning("cannot listen for the sync service in %s: %s", runtime_folder, error)
            return cls(None, **options)
        return cls(channel, **options)

    def __init__(self, channel: Channel | None, *, send: Callable[[object], None], wall_clock: HostWallClock,
                 on_clock: Callable[[], None] | None = None, on_stored: Callable[[], object] | None = None,
                 in_session: Callable[[], bool] = lambda: False, min_gap: float = MIN_GAP) -> None:
        self.channel = channel
        self._send = send
        self.wall_clock = wall_clock
        self.on_clock = on_clock
        self.on_stored = on_stored     # the settings event for what the store holds now
        self.in_session = in_session   # on the loop's thread
        self._busy = False             # as the loop last saw it
        self._busy_told: bool | None = None
        self._asked: tuple[int, ChangeAsked] | None = None   # the sync process's question on screen
        self._asked_lock = threading.Lock()
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
                self._tell_busy()
            except Exception:   # never let the firmware's link die: the next datagram may be fine
                logger.exception("sync link error")
            self._stopping.wait(self._min_gap)

    # --- A loop service: the session's state, for the sync process's desk ---------------------

    def next_deadline(self) -> None:
        return None

    def poll(self, now: float) -> None:
        busy = bool(self.in_session())
        if busy != self._busy:
            self._busy = busy
            if self.channel is not None:
                self.channel.wake()   # this thread sends it: the loop never waits on a socket

    def _tell_busy(self) -> None:
        busy = self._busy
        if busy != self._busy_told and self.channel.send(Busy(busy)):
            self._busy_told = busy

    def handle(self, messages) -> None:
        """One batch, oldest first: progress that a later status replaces is skipped."""
        for index, message in enumerate(messages):
            if isinstance(message, SyncStatus):
                later = messages[index + 1:]
                if message.state == "syncing" and any(isinstance(m, SyncStatus) for m in later):
                    continue
                self._syncing = message.state == "syncing"
                self._put(sync_event(message))
            elif isinstance(message, Ask):
                self._ask(message)
            elif isinstance(message, Withdraw):
                self._withdraw(lambda question_id: question_id == message.question)
            elif isinstance(message, Stored):
                logger.info("a change from the computer was stored; the device takes it in idle")
                if self.on_stored is not None:
                    self._put(self.on_stored())
            elif isinstance(message, Clock):
                self.wall_clock.adopt(message.offset)
                if self.on_clock is not None:
                    self.on_clock()
                logger.info("clock set by a host through the sync service (correction %+.1f s)",
                            message.offset)
            elif isinstance(message, Hello):
                logger.info("sync service (re)started")
                if self._syncing:
                    self._syncing = False
                    self._put(Notice(INTERRUPTED))
                self._withdraw(lambda question_id: True)
                if self.wall_clock.set_by_host:
                    self.channel.send(Clock(self.wall_clock.offset))
                self._busy_told = None   # told again below

    def _withdraw(self, which: Callable[[int], bool]) -> None:
        """The question on screen leaves it, if `which` says so of its id."""
        with self._asked_lock:
            asked = self._asked
            if asked is None or not which(asked[0]):
                return
            self._asked = None
        self._put(QuestionWithdrawn(asked[1]))

    def _ask(self, message: Ask) -> None:
        """The question on the loop's screen; the person's answer goes back over the channel."""
        question_id = message.question

        def answer(verdict: bool | None) -> bool:
            """From the loop: False if the sync process that asked is gone (it restarted)."""
            with self._asked_lock:
                current = self._asked is not None and self._asked[0] == question_id
                if current:
                    self._asked = None
            if current:
                self.channel.send(Answer(question_id, {True: "yes", False: "no", None: "none"}[verdict]))
            return current

        asked = ChangeAsked(message.prompt, answer)
        with self._asked_lock:
            self._asked = (question_id, asked)
        logger.info("the sync service asks the person: %s", message.prompt)
        self._put(asked)

    def _put(self, event) -> None:
        if event is not None:
            self._send(event)
