"""What the drivers raise that is not the libraries' own."""


class NoHardwareError(Exception):
    """The real GPIO or I2C bus is not there (not a Raspberry Pi, or not wired/enabled).

    The device's `device.base.errors.NoHardwareError` is a kind of this one, so one `except`
    of this class catches both; the drivers themselves import nothing from `device`.
    """
