"""The parts a device is built from: what differs between the Pi, the simulator and the tests.

`real_parts` are the Pi's own: its GPIO (gpiozero picks the pin factory, as on any Pi) and the
panel on its I2C bus. `simulated_parts` are gpiozero's MockFactory pins told the time by the
given clock, and the real adafruit driver on the fake SSD1306 bus, which shows what the glass
would. Everything above the pins and the bus is the same code: `device.core.assemble.assemble`
builds the running device from a config, the routines and one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from device.log.clockfix import HostWallClock
from device.screen.display import Panel


@dataclass(frozen=True)
class Parts:
    clock: object                        # the one clock: MonotonicClock, ScaledClock or VirtualClock
    # A gpiozero pin factory; None: gpiozero's own choice (the Pi's GPIO). Not named in `real_parts`:
    # gpiozero tries lgpio first by import (its entry-point scan only runs for GPIOZERO_PIN_FACTORY,
    # which the unit does not set), and naming it would import gpiozero before the splash (issue 12).
    pins: object | None
    open_panel: Callable[[], Panel]      # opens the panel afresh; the display retries it when it fails
    state_dir: Path | None               # the session log and the person's choices; None: nothing kept
    bus: object | None = None            # simulated: the fake I2C bus, whose image() is what the glass shows
    # The date: the Pi has no real-time clock, so the system's time plus what a syncing computer says.
    wall_clock: HostWallClock = field(default_factory=HostWallClock)
    board_serial: str | None = None      # the Pi's serial number: a fresh log's device id
    open_gauge: Callable[[], object] | None = None   # the battery's fuel gauge ([battery] enabled)


def real_parts(config) -> Parts:
    """The Raspberry Pi's GPIO and I2C panel, on real time; the state folder systemd gives us."""
    from device.base.identity import board_serial
    from device.core.clock import MonotonicClock
    from device.settings.paths import state_dir

    def open_panel():
        from drivers.oled import open_i2c_display

        display = config.display
        return open_i2c_display(display.bus, display.address, display.rotation)

    def open_gauge():
        from drivers.battery import open_i2c_gauge

        return open_i2c_gauge(config.display.bus, config.battery.address)

    return Parts(MonotonicClock(), pins=None, open_panel=open_panel, state_dir=state_dir(),
                 board_serial=board_serial(), open_gauge=open_gauge if config.battery.enabled else None)


def simulated_parts(config, clock, *, state_dir: Path | None = None, bus=None,
                    wall_clock: HostWallClock | None = None, gauge=None) -> Parts:
    """gpiozero's mock pins on `clock` and the real panel driver on a fake SSD1306 bus (`bus`,
    or a fresh `FakeSSD1306Bus`; a test may hand in one that fails). `wall_clock`: this
    computer's date unless a test lives in a world of its own. `gauge`: a `FakeMAX17048` to put
    on the bus; the real gauge driver reads it when `[battery]` is enabled."""
    from drivers.fakes.i2c import FakeSSD1306Bus
    from drivers.fakes.lazy_pins import LazyPins
    from drivers.oled import OledDisplay

    display = config.display
    bus = bus if bus is not None else FakeSSD1306Bus(address=display.address)
    if gauge is not None:
        bus.attach(gauge)

    def open_gauge():
        from drivers.battery import MAX17048Gauge

        return MAX17048Gauge(bus, config.battery.address)

    def mock_pins():
        from drivers.fakes.pins import ClockedMockFactory

        return ClockedMockFactory(clock)

    return Parts(clock, pins=LazyPins(mock_pins), state_dir=state_dir, bus=bus,
                 open_panel=lambda: OledDisplay(bus, address=display.address, rotation=display.rotation),
                 wall_clock=wall_clock or HostWallClock(),
                 open_gauge=open_gauge if config.battery.enabled else None)
