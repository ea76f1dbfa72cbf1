"""Regenerates the README's screen pictures from the simulator: `make screens`.

Each picture is what the simulated panel shows (decoded from the I2C traffic of the real
adafruit driver), at a moment reached by pressing the simulated button.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image, ImageOps

from device.core.events import Notice, SyncProgress
from device.settings.config import Config
from device.settings.routines import load_library
from device.sim.simulator import Simulator

OUT = Path(__file__).parent / "screens"
SCALE = 3


def save(sim, name: str) -> None:
    image = sim.bus.image().convert("L").resize((128 * SCALE, 64 * SCALE), Image.NEAREST)
    framed = ImageOps.expand(ImageOps.colorize(image, "#000", "#9cf"), border=6, fill="#333")
    framed.save(OUT / f"{name}.png", optimize=True)


def run_to(sim, seconds: float) -> None:
    sim.clock.call_at(seconds, lambda: None)
    sim.app.run(sim.events, until=lambda: sim.clock.now() >= seconds)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    routines = list(load_library(None).routines)
    with tempfile.TemporaryDirectory() as state:
        # A session done today: the idle screen shows a day of this week done (and the summary says so).
        sim = Simulator(Config(), routines, routine_name="quick", state_dir=Path(state))
        sim.run_headless([(1.0, "press")])
        save(sim, "summary")
        sim.close()

        sim = Simulator(Config(), routines, routine_name="daily", state_dir=Path(state))
        run_to(sim, 2.0)
        save(sim, "idle")
        sim.schedule(3.0, "press")
        run_to(sim, 3.0 + 0.47 + 20 + 40 + 60 + 70 - 47)   # jawline, first side
        save(sim, "zone")
        run_to(sim, sim.clock.now() + 35)                    # past halfway: right side
        save(sim, "zone-right")
        sim.schedule(sim.clock.now() + 0.1, "press")
        run_to(sim, sim.clock.now() + 2)
        save(sim, "paused")
        sim.events.put(Notice("Disk full: log kept"))
        run_to(sim, sim.clock.now() + 1)
        save(sim, "notice")
        sim.close()

        sim = Simulator(Config(), routines, state_dir=Path(state))
        sim.events.put(SyncProgress(27, 40))
        run_to(sim, 1.0)
        save(sim, "sync")
        sim.close()

        # A fuel gauge at 72 % that has measured three sessions at 1 % a minute.
        (Path(state) / "battery.json").write_text('{"sessions": [[3.0, 3.0], [3.0, 3.0], [3.0, 3.0]]}')
        sim = Simulator(Config(), routines, routine_name="daily", state_dir=Path(state), battery=(72.0, 0.0))
        run_to(sim, 2.0)
        save(sim, "idle-battery")
        sim.close()

        sim = Simulator(Config(), routines, state_dir=Path(state))
        sim.clock.call_at(1.0, sim.button.pin.drive_low)
        run_to(sim, 8.2)
        save(sim, "power-off")
        sim.close()
    print(f"wrote {len(list(OUT.glob('*.png')))} pictures to {OUT}")


if __name__ == "__main__":
    main()
