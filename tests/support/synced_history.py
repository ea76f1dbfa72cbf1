"""A computer's synced history to look at: `count` sessions over the last year, from two
devices, of the built-in routines, with skipped and short zones, early ends, and some
estimated dates. Stored through `HostDb.store_batch`, the path a sync stores by. Shared by the
companion page's tests (tests/companion/app) and bench/app_bench.py."""

from __future__ import annotations

import random
from pathlib import Path

from companion.hostdb import HostDb
from device.log.logdb import SessionRecord, ZoneProgress
from device.settings.routines import load_library

DEVICES = ("pace-kitchen", "pace-travel")
DAY = 86_400.0


def fill(path: Path, count: int, *, now: float, seed: int = 0, devices: tuple[str, ...] = DEVICES) -> None:
    rng = random.Random(seed)
    routines = load_library(None).routines
    by_device: dict[str, list[tuple[SessionRecord, str]]] = {device: [] for device in devices}
    for index in range(count):
        device = devices[index % len(devices)] if rng.random() < 0.8 else devices[0]
        routine = rng.choice(routines)
        start = now - rng.uniform(0.02, 364) * DAY
        zones, active = [], 0.0
        ended_early = rng.random() < 0.15
        cut = rng.randrange(len(routine.active_zones)) if ended_early else None
        for position, zone in enumerate(routine.active_zones):
            skipped = cut is None or position < cut
            skipped = skipped and rng.random() < 0.08
            done = (0.0 if skipped or (cut is not None and position > cut) else
                    round(rng.uniform(1, zone.seconds - 1), 3) if position == cut else float(zone.seconds))
            zones.append(ZoneProgress(zone.id, float(zone.seconds), done, skipped))
            active += done
        quality = "estimated" if rng.random() < 0.05 else "clock"
        seq = len(by_device[device]) + 1
        by_device[device].append((SessionRecord(
            id=f"{device}-{seq}", device_id=device, routine_name=routine.name, routine_hash="sha256:x",
            intensity=rng.randint(1, 5), wall_start=start, wall_trusted=quality != "estimated",
            boot_id="boot", mono_start=1000.0 + index, active_seconds=active,
            outcome="ended_early" if ended_early else "completed", wall_end=start + active + 5,
            wall_checkpoint=start + active + 5, mono_end=1000.0 + index + active + 5, seq=seq,
            zones=tuple(zones)), quality))
    with HostDb.open(path) as db:
        for device, rows in by_device.items():
            for first in range(0, len(rows), 500):
                batch = rows[first:first + 500]
                db.store_batch(device, f"log-{device}", batch, batch[-1][0].seq)
            db.note_device(device, "0.1.0", now - DAY)
