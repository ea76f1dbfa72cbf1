"""A fake MAX17048 fuel gauge at the register level, for the fake I2C bus, on the injected clock.

`FakeSSD1306Bus.attach(FakeMAX17048(clock))` puts it on the same wires as the panel; the real
`adafruit_max1704x` driver then reads and writes its registers as it would the chip's
(MAX17048/MAX17049 datasheet, 19-6171 rev 5, "Register Summary"):

- 0x02 VCELL (78.125 uV/LSB), 0x04 SOC (1/256 %/LSB), 0x08 VERSION (0x001x), 0x16 CRATE
  (signed, 0.208 %/h/LSB) are read-only; writes to them change nothing.
- 0x06 MODE: Quick-Start (bit 14), EnSleep (bit 13), HibStat (bit 12, read-only).
- 0x0C CONFIG: RCOMP (MSB), SLEEP (bit 7), ALSC (bit 6), ALRT (bit 5), ATHD (bits 4:0: the
  empty alert fires below 32 - ATHD %).
- 0x14 VALRT: MIN (MSB), MAX (LSB), 20 mV/LSB.  0x18 VRESET/ID.
- 0x1A STATUS (MSB): RI (bit 8, set at power-on), VH, VL, VR, HD (SOC low), SC (1 % change).
  A flag that comes up also sets CONFIG.ALRT; the host clears each by writing 0. HD and SC fire
  on a crossing; VL and VH again while the voltage stays out of range.
- 0xFE CMD: 0x5400 resets the chip, which therefore does not acknowledge the write.

The register pointer is set by the first byte of a write and advances with each byte read or
written, as on the chip. The cell is a straight line in time: `percent` at `clock.now()` moves
by `percent_per_hour` (negative: draining, positive: charging, which CRATE reports), and its
open-circuit voltage follows a typical LiPo curve. `unplug()` makes the chip stop acknowledging.
"""

from __future__ import annotations

import bisect
import copy
import errno

from drivers.fakes.i2c import REMOTE_IO_ERROR

VCELL, SOC, MODE, VERSION, HIBRT, CONFIG, VALRT, CRATE, VRESET, STATUS, CMD = (
    0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x14, 0x16, 0x18, 0x1A, 0xFE)
READ_ONLY = {VCELL, VCELL + 1, SOC, SOC + 1, VERSION, VERSION + 1, CRATE, CRATE + 1, VRESET + 1}
RESET_COMMAND = 0x5400

# STATUS register's MSB, and CONFIG's LSB (datasheet, tables 2 and 3).
RI, VH, VL, VR, HD, SC = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
SLEEP, ALSC, ALRT, ATHD_MASK = 0x80, 0x40, 0x20, 0x1F
ENSLEEP, QUICK_START = 0x20, 0x40   # MODE's MSB
HIBSTAT = 0x10

# Power-on values of the 16-bit registers (datasheet, "Register Summary").
POWER_ON = {MODE: 0x0000, VERSION: 0x0012, HIBRT: 0x8030, CONFIG: 0x971C, VALRT: 0x00FF,
            VRESET: 0x9600, STATUS: 0x0100}

# A typical single-cell LiPo at rest: (state of charge %, open-circuit volts).
OCV_CURVE = ((0, 3.30), (5, 3.55), (10, 3.65), (20, 3.72), (50, 3.80), (80, 3.98), (100, 4.20))
CHARGING_LIFT = 0.05   # a charger holds the cell above its resting voltage


def open_circuit_volts(percent: float) -> float:
    percents = [point[0] for point in OCV_CURVE]
    index = min(max(bisect.bisect_right(percents, percent), 1), len(OCV_CURVE) - 1)
    (p0, v0), (p1, v1) = OCV_CURVE[index - 1], OCV_CURVE[index]
    return v0 + (v1 - v0) * (min(max(percent, p0), p1) - p0) / (p1 - p0)


class FakeMAX17048:
    """A MAX17048 at `address` with a cell at `percent`, moving `percent_per_hour`."""

    def __init__(self, clock, *, percent: float = 80.0, percent_per_hour: float = 0.0,
                 address: int = 0x36) -> None:
        self.address = address
        self.clock = clock
        self.present = True
        self.resets = 0           # CMD resets the chip took (each throws away its learned state)
        self.transactions = 0
        self._registers = bytearray(256)
        self._pointer = 0
        self._set_cell(percent, percent_per_hour)
        self._power_on()

    # -- the cell (the test's side) ---------------------------------------------------------

    def _set_cell(self, percent: float, percent_per_hour: float) -> None:
        self._percent_at_start = float(percent)
        self._started = self.clock.now()
        self.percent_per_hour = float(percent_per_hour)

    @property
    def percent(self) -> float:
        hours = (self.clock.now() - self._started) / 3600
        return min(100.0, max(0.0, self._percent_at_start + self.percent_per_hour * hours))

    def set(self, *, percent: float | None = None, percent_per_hour: float | None = None) -> None:
        """From now on: the cell at `percent`, moving `percent_per_hour` (a charger plugged in)."""
        self._set_cell(self.percent if percent is None else percent,
                       self.percent_per_hour if percent_per_hour is None else percent_per_hour)
        self._update()

    @property
    def volts(self) -> float:
        lift = CHARGING_LIFT if self.percent_per_hour > 0 and self.percent < 100 else 0.0
        return open_circuit_volts(self.percent) + lift

    def unplug(self) -> None:
        """The gauge stops acknowledging (a loose wire, a HAT pulled off)."""
        self.present = False

    def plug_in(self) -> None:
        self.present = True

    # -- the registers ----------------------------------------------------------------------

    def register(self, address: int) -> int:
        """A 16-bit register as the host would read it now."""
        self._update()
        return int.from_bytes(self._registers[address:address + 2], "big")

    def _power_on(self) -> None:
        self._registers[:] = bytes(256)
        for address, value in POWER_ON.items():
            self._registers[address:address + 2] = value.to_bytes(2, "big")
        self._last_whole_percent = int(self.percent)
        self._was_empty = False
        self._update()

    def _update(self) -> None:
        """Measurements and alerts as of `clock.now()`."""
        percent, volts = self.percent, self.volts
        self._registers[VCELL:VCELL + 2] = min(0xFFFF, round(volts / 78.125e-6)).to_bytes(2, "big")
        self._registers[SOC:SOC + 2] = min(0xFFFF, round(percent * 256)).to_bytes(2, "big")
        crate = 0 if percent in (0.0, 100.0) else round(self.percent_per_hour / 0.208)
        self._registers[CRATE:CRATE + 2] = max(-0x8000, min(0x7FFF, crate)).to_bytes(2, "big", signed=True)
        flags = 0
        empty_below = 32 - (self._registers[CONFIG + 1] & ATHD_MASK)
        if percent < empty_below and not self._was_empty:   # HD fires on the crossing, not while below
            flags |= HD
        self._was_empty = percent < empty_below
        valrt_min, valrt_max = self._registers[VALRT] * 0.02, self._registers[VALRT + 1] * 0.02
        if volts < valrt_min:
            flags |= VL
        if volts > valrt_max:
            flags |= VH
        whole = int(percent)
        if whole != self._last_whole_percent:
            self._last_whole_percent = whole
            if self._registers[CONFIG + 1] & ALSC:
                flags |= SC
        if flags & ~self._registers[STATUS]:
            self._registers[CONFIG + 1] |= ALRT
        self._registers[STATUS] |= flags

    # -- the bus's side (FakeSSD1306Bus.attach) ---------------------------------------------

    def write(self, payload: bytes) -> None:
        self._acknowledge()
        if not payload:
            return   # a probe: the address alone
        self._update()
        self._pointer = payload[0]
        data = payload[1:]
        if self._pointer == CMD and data[:2] == RESET_COMMAND.to_bytes(2, "big"):
            self.resets += 1
            self._power_on()
            raise copy.copy(REMOTE_IO_ERROR)   # the chip resets before it can acknowledge
        for byte in data:
            address = self._pointer
            if address == MODE:
                byte &= ~HIBSTAT & 0xFF
                byte |= self._registers[MODE] & HIBSTAT
            if address not in READ_ONLY:
                self._registers[address] = byte
            self._pointer = (self._pointer + 1) & 0xFF

    def read(self, count: int) -> bytes:
        self._acknowledge()
        self._update()
        out = bytearray()
        for _ in range(count):
            out.append(self._registers[self._pointer])
            self._pointer = (self._pointer + 1) & 0xFF
        return bytes(out)

    def _acknowledge(self) -> None:
        if not self.present:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        self.transactions += 1
