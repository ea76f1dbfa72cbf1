"""The battery's fuel gauge: a MAX17048 (Adafruit's breakout, most Pi LiPo HATs) on Adafruit's
`adafruit_max1704x`, on the same I2C bus as the OLED.

Unlike the library's constructor this does not reset the chip: a reset throws away what the
gauge has learned about the cell and re-estimates the charge from the voltage under load, which
reads low (and the library then sleeps 0.2 s). The gauge keeps running while the Pi is off;
the service restarting is no reason to forget.

The bus is passed in; `open_i2c_gauge()` opens the real one on a Raspberry Pi.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

DEFAULT_ADDRESS = 0x36
CHARGING_PERCENT_PER_HOUR = 1.0   # CRATE above this: a charger is feeding the cell
LOW_VOLTS = 3.3                   # the chip's voltage alert: below this a LiPo is nearly empty
VOLTAGE_LOW_FLAG = 0x04           # STATUS.VL (adafruit_max1704x.ALERTFLAG_VOLTAGE_LOW)


@dataclass(frozen=True)
class BatteryReading:
    percent: float          # state of charge, 0..100
    volts: float            # the cell's voltage
    charging: bool | None   # None: this gauge cannot tell
    voltage_low: bool       # the chip's own alert: the cell is below LOW_VOLTS, whatever the estimate


class MAX17048Gauge:
    """`read()` gives a `BatteryReading`; OSError when the chip does not answer."""

    def __init__(self, i2c, address: int = DEFAULT_ADDRESS, *, owns_bus: bool = False) -> None:
        import adafruit_max1704x

        class Unreset(adafruit_max1704x.MAX17048):
            def __init__(self, i2c_bus, address):   # the library's, without reset() (see above)
                from adafruit_bus_device.i2c_device import I2CDevice

                self.i2c_device = I2CDevice(i2c_bus, address)
                if self.chip_version & 0xFFF0 != 0x0010:
                    raise OSError(errno.ENODEV, f"the chip at 0x{address:02X} is not a MAX17048/49")

        self._i2c = i2c
        self._owns_bus = owns_bus
        self._closed = False
        try:
            self.chip = Unreset(i2c, address)
        except ValueError as error:   # adafruit_bus_device's probe: nothing acknowledged
            raise OSError(errno.ENXIO, f"no fuel gauge answers at I2C address 0x{address:02X}") from error
        self.chip.enable_sleep = False
        self.chip.sleep = False
        self.chip.voltage_alert_min = LOW_VOLTS

    def read(self) -> BatteryReading:
        chip = self.chip
        voltage_low = bool(chip.alert_reason & VOLTAGE_LOW_FLAG)
        if voltage_low:
            chip.voltage_low_alert = False   # cleared so that it tells us again only if still low
        return BatteryReading(percent=min(100.0, chip.cell_percent), volts=chip.cell_voltage,
                              charging=chip.charge_rate > CHARGING_PERCENT_PER_HOUR, voltage_low=voltage_low)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_bus:
            self._i2c.deinit()

    def __enter__(self) -> "MAX17048Gauge":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_i2c_gauge(bus_number: int = 1, address: int = DEFAULT_ADDRESS) -> MAX17048Gauge:
    """The gauge on `/dev/i2c-<bus_number>` (its own handle on the bus the OLED uses: the kernel
    keeps each transfer whole). NoHardwareError without the bus, OSError without the chip."""
    from drivers.oled import open_linux_i2c

    i2c = open_linux_i2c(bus_number)
    try:
        return MAX17048Gauge(i2c, address, owns_bus=True)
    except BaseException:
        i2c.deinit()
        raise

