"""Event trace: one JSON object per line, `t` = the clock's seconds when it happened.

The app passes `at=` where it knows the instant (a gesture, a zone's planned end): a loop
that got there late still writes when it happened, not when it noticed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO


class Trace:
    def __init__(self, clock, stream: TextIO) -> None:
        self._clock = clock
        self._stream = stream

    @classmethod
    def to_file(cls, clock, path: Path) -> "Trace":
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(clock, open(path, "w", encoding="utf-8", buffering=1))

    def __call__(self, event: str, *, at: float | None = None, **fields) -> None:
        record = {"t": round(self._clock.now() if at is None else at, 6), "event": event, **fields}
        self._stream.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._stream.close()


def read_trace(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]
