"""A push of a 16 KiB routine over a pty (issue 13), excluding the person's press.

The device is the sync server with its `OwnerDesk` (the store in a temporary folder, on the
disk the benchmark runs on), the computer `companion.owner_client`; the `ask` callback
accepts at once and the client polls without a pause, so what is measured is the transfer,
the checks on both ends, and the durable write. Target: under 0.5 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from companion import owner_client as owner
from companion import sync_client as host
from device.log.sessionlog import SessionLog
from device.settings.config import Config
from device.settings.owner import MAX_ROUTINE_BYTES, PutRoutine
from device.settings.ownerstore import OwnerStore
from device.settings.routines import load_library
from device.sync.ownerdesk import OwnerDesk
from device.sync.server import SyncServer
from tests.support.sync_testing import PtyLink

RUNS = 7
TARGET = 0.5


def routine_of(size: int, version: int) -> bytes:
    """A valid routine of exactly `size` bytes: as many zones as fit, then a comment."""
    head = f'title = "Bench {version}"\n'
    zone = ('\n[[zones]]\nid = "zone-{n}"\ntitle = "Zone {n}"\ncue = "Slow circles out"\n'
            'seconds = 30\ntempo = 30\nintensity = 3\nsides = 1\n')
    text, number = head, 0
    while len(text) + len(zone.format(n=number + 1)) + 20 < size:
        number += 1
        text += zone.format(n=number)
    filler = size - len(text.encode()) - 2   # "#" and the line break
    return (text + "#" + "x" * filler + "\n").encode()


def run() -> list[dict]:
    seconds = []
    with tempfile.TemporaryDirectory() as folder, PtyLink() as link:
        store = OwnerStore(Path(folder) / "owner")
        desk = OwnerDesk(store, base=Config(), others=list(load_library(None).routines),
                         ask=lambda question: question.accept())
        with SessionLog.open(Path(folder) / "sessions.db", clock_synced=lambda: True) as log, \
                SyncServer(link.device_port, log, owner=desk, reopen_delay=0.05) as server:
            assert server.serving.wait(5)
            port = host.open_device(link.host_port)
            try:
                device = owner.connect(host.Link(port, timeout=5))
                for version in range(RUNS):
                    data = routine_of(MAX_ROUTINE_BYTES, version)
                    started = time.perf_counter()
                    final = owner.propose(device, PutRoutine("bench", data), wait=lambda _: None)
                    seconds.append(time.perf_counter() - started)
                    assert final.state == "accepted", final
                    assert store.load().owned.routines["bench"] == data
            finally:
                port.close()
    median = statistics.median(seconds)
    return [{"name": "owner: push of a 16 KiB routine over a pty (median, no press)",
             "value": f"{median * 1000:.0f} ms (max {max(seconds) * 1000:.0f})",
             "target": f"< {TARGET * 1000:.0f} ms", "ok": median < TARGET}]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<40} {row['value']:<16} {row['target']:<10} {'ok' if row['ok'] else 'MISSED'}")
