"""The SD card under a session log, at the boundary the log already has: its `connect`.

`SessionLog.open(path, connect=card.connect)` gets real SQLite connections (`logdb.connect`);
the card can make them slow or read-only the way a worn card does, through SQLite itself:
- `stall()`: every statement waits inside SQLite (so inside the log, its lock held) until
  `release()`, as during a long fsync or a repair;
- `read_only = True`: connections made from then on refuse every write (`PRAGMA query_only`),
  until `take_writes_again()`;
- `die()`: the program dies (the boot goes on): every connection is closed under the log, which is
  never told; SQLite rolls back what was not committed, as after a SIGKILL.
"""

from __future__ import annotations

import threading
from pathlib import Path

from device.log import logdb

GUARD_SECONDS = 30.0   # a stalled statement gives up waiting: a broken test fails, never hangs


class Card:
    def __init__(self) -> None:
        self.read_only = False
        self.stalling = threading.Event()      # set once a statement is held up
        self._moving = threading.Event()
        self._moving.set()
        self._refusing: list = []
        self._given: list = []

    def connect(self, path: Path):
        connection = logdb.connect(path)
        # Called by SQLite between the virtual machine's instructions, on whichever thread runs
        # the statement: the place a slow card makes a statement wait.
        connection.set_progress_handler(self._between_instructions, 1)
        if self.read_only:
            connection.execute("PRAGMA query_only = 1")
            self._refusing.append(connection)
        self._given.append(connection)
        return connection

    def die(self) -> None:
        for connection in self._given:
            connection.close()
        self._given.clear()

    def stall(self) -> None:
        self.stalling.clear()
        self._moving.clear()

    def release(self) -> None:
        self._moving.set()

    def take_writes_again(self) -> None:
        self.read_only = False
        for connection in self._refusing:
            connection.execute("PRAGMA query_only = 0")
        self._refusing.clear()

    def _between_instructions(self) -> int:
        if not self._moving.is_set():
            self.stalling.set()
            self._moving.wait(GUARD_SECONDS)
        return 0   # go on (non-zero would interrupt the statement)
