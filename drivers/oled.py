"""The SSD1306 OLED, on adafruit_ssd1306, sending only what changed.

adafruit's `show()` sends all 1024 bytes of the frame buffer every time; at 100 kHz that is
about 0.1 s of bus time per frame. `OledDisplay.show(image)` compares the new picture with the
one on the panel and sends, for each group of changed 8-pixel pages, only the changed column
window (0x21 column range + 0x22 page range, then the data). The controller initialisation,
rotation, contrast and power still go through adafruit's driver, and its `buffer` is kept equal
to what is on the panel.

The bus is passed in, so this module never imports `board` or `busio`; `open_i2c_display()`
does, inside the function, to open the real bus on a Raspberry Pi.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import NamedTuple

from PIL import Image

from drivers.errors import NoHardwareError

ROTATIONS = (0, 180)
COMMAND_STREAM = 0x00  # control byte: Co=0, D/C#=0, every following byte is a command
DATA_STREAM = 0x40  # control byte: Co=0, D/C#=1, every following byte is display data
SET_COLUMN_RANGE = 0x21
SET_PAGE_RANGE = 0x22
# Bytes a window costs on the wire besides its pixels: address + control + 6 command bytes,
# then address + control before the data.
WINDOW_OVERHEAD = 8 + 2


class Window(NamedTuple):
    """A rectangle of GDDRAM, in pages and columns (inclusive), sent as one data stream."""

    first_page: int
    last_page: int
    first_column: int
    last_column: int

    @property
    def size(self) -> int:
        return (self.last_page - self.first_page + 1) * (self.last_column - self.first_column + 1)


class OledDisplay:
    """A 1-bit SSD1306 panel on an I2C bus; `show(image)` makes the glass show exactly `image`."""

    def __init__(self, i2c, width: int = 128, height: int = 64, address: int = 0x3C, *,
                 rotation: int = 0, owns_bus: bool = False) -> None:
        if rotation not in ROTATIONS:
            raise ValueError(f"display rotation must be 0 or 180, got {rotation!r}")
        if height % 8 or not 0 < width <= 128:
            raise ValueError(f"unsupported panel size {width}x{height}")
        import adafruit_ssd1306  # imports without a Pi; kept here so tools can import us cheaply

        self.width = width
        self.height = height
        self.address = address
        self.rotation = rotation
        self._i2c = i2c
        self._owns_bus = owns_bus
        self._closed = False
        # Narrow panels sit in the middle of the controller's 128 columns (as adafruit's show()).
        self._column_offset = (128 - width) // 2 if width != 128 else 0
        try:
            # Probes the address, initialises the controller and clears GDDRAM with a full show().
            self.ssd1306 = adafruit_ssd1306.SSD1306_I2C(width, height, i2c, addr=address)
        except ValueError as error:  # adafruit_bus_device's probe: nothing acknowledged the address
            raise OSError(errno.ENXIO, f"no SSD1306 answers at I2C address 0x{address:02X}") from error
        if rotation == 180:
            # adafruit's init sets A1/C8, upright on these modules; rotate(False) sends A0/C0.
            self.ssd1306.rotate(False)
        self._on_panel: list[bytes] | None = self._pages_of_buffer()  # init cleared it

    # -- pixels ------------------------------------------------------------------------

    def show(self, image: Image.Image) -> None:
        """Make the panel show `image` (mode "1", the panel's size), sending only what changed."""
        if self._closed:
            raise RuntimeError("show() on a closed OledDisplay")
        if not isinstance(image, Image.Image) or image.mode != "1" or image.size != (self.width, self.height):
            got = f"mode {image.mode!r} {image.size[0]}x{image.size[1]}" if isinstance(image, Image.Image) else type(image).__name__
            raise ValueError(f"show() needs a Pillow mode \"1\" image of {self.width}x{self.height}, got {got}")
        pages = pages_of(image)
        windows = plan_windows(dirty_spans(self._on_panel, pages))
        try:
            for window in windows:
                self._send_window(window, pages)
        except OSError:
            self._on_panel = None  # part of the frame may have landed: repaint everything next time
            raise
        self._on_panel = pages
        self.ssd1306.buffer[1:] = b"".join(pages)

    def _send_window(self, window: Window, pages: list[bytes]) -> None:
        offset = self._column_offset
        commands = bytes((COMMAND_STREAM,
                          SET_COLUMN_RANGE, window.first_column + offset, window.last_column + offset,
                          SET_PAGE_RANGE, window.first_page, window.last_page))
        data = bytearray((DATA_STREAM,))
        for page in pages[window.first_page:window.last_page + 1]:
            data += page[window.first_column:window.last_column + 1]
        device = self.ssd1306.i2c_device
        with device:
            device.write(commands)
        with device:
            device.write(data)

    def _pages_of_buffer(self) -> list[bytes]:
        frame = bytes(self.ssd1306.buffer[1:])
        return [frame[page * self.width:(page + 1) * self.width] for page in range(self.height // 8)]

    # -- panel settings ----------------------------------------------------------------

    def contrast(self, value: int) -> None:
        """Set the panel's contrast, 0..255 (brightness of lit pixels)."""
        if not isinstance(value, int) or not 0 <= value <= 255:
            raise ValueError(f"contrast must be an integer 0..255, got {value!r}")
        self.ssd1306.contrast(value)

    def poweroff(self) -> None:
        """Blank the glass; GDDRAM keeps the picture."""
        self.ssd1306.poweroff()

    def poweron(self) -> None:
        self.ssd1306.poweron()

    @property
    def is_on(self) -> bool:
        return self.ssd1306.power

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Clear and power off the panel (a bus that is gone is ignored). Safe to call twice."""
        if self._closed:
            return
        try:
            self.show(Image.new("1", (self.width, self.height), 0))
            self.ssd1306.poweroff()
        except OSError:
            pass
        finally:
            self._closed = True
            if self._owns_bus:
                self._i2c.deinit()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "OledDisplay":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def pages_of(image: Image.Image) -> list[bytes]:
    """The SSD1306 page layout of a mode "1" image: one bytes per 8-row page, LSB = top row.

    Turning the image a quarter clockwise makes each source column one packed row with the
    bottom pixel first; `tobytes()` then yields, per column, one byte per page from the last
    page up, with bit 0 = the page's top row. Slicing every n-th byte regroups them by page.
    This costs a few tens of microseconds, against milliseconds for a per-pixel loop.
    """
    page_count = image.height // 8
    packed = image.transpose(Image.Transpose.ROTATE_270).tobytes()
    return [packed[page_count - 1 - page::page_count] for page in range(page_count)]


def dirty_spans(old: list[bytes] | None, new: list[bytes]) -> list[tuple[int, int] | None]:
    """Per page, the first and last column that differ (None if the page is unchanged)."""
    spans: list[tuple[int, int] | None] = []
    for page, new_page in enumerate(new):
        if old is None:
            spans.append((0, len(new_page) - 1))
            continue
        old_page = old[page]
        if old_page == new_page:
            spans.append(None)
            continue
        first = 0
        while old_page[first] == new_page[first]:
            first += 1
        last = len(new_page) - 1
        while old_page[last] == new_page[last]:
            last -= 1
        spans.append((first, last))
    return spans


def plan_windows(spans: list[tuple[int, int] | None]) -> list[Window]:
    """The cheapest set of windows covering the dirty spans, as runs of consecutive pages.

    A window spanning several pages saves the per-window overhead but resends clean bytes
    (pages in between, columns outside a page's own span). With 8 pages, trying every split
    into runs costs nothing.
    """
    dirty = [page for page, span in enumerate(spans) if span is not None]
    # best[i]: (cost, windows) covering dirty[:i]
    best: list[tuple[int, list[Window]]] = [(0, [])]
    for end in range(1, len(dirty) + 1):
        candidates = []
        for start in range(end):
            group = dirty[start:end]
            window = Window(group[0], group[-1],
                            min(spans[page][0] for page in group), max(spans[page][1] for page in group))
            cost, windows = best[start]
            candidates.append((cost + WINDOW_OVERHEAD + window.size, windows + [window]))
        best.append(min(candidates, key=lambda candidate: candidate[0]))
    return best[-1][1]


def open_i2c_display(bus_number: int = 1, address: int = 0x3C, rotation: int = 0, *,
                     width: int = 128, height: int = 64) -> OledDisplay:
    """Open the real I2C bus `/dev/i2c-<bus_number>` with Blinka and the panel on it.

    Raises NoHardwareError when there is no such bus (not a Pi, I2C not enabled, Blinka missing),
    and OSError when the bus is there but the panel does not answer (wiring: retry later).
    """
    i2c = open_linux_i2c(bus_number)
    try:
        return OledDisplay(i2c, width, height, address, rotation=rotation, owns_bus=True)
    except BaseException:
        i2c.deinit()
        raise


def open_linux_i2c(bus_number: int):
    """A `busio.I2C` on `/dev/i2c-<bus_number>` (Blinka), or NoHardwareError saying what is missing."""
    device_path = Path(f"/dev/i2c-{bus_number}")
    if not device_path.exists():
        raise NoHardwareError(
            f"no I2C bus {bus_number} ({device_path} does not exist): enable I2C with "
            "`sudo raspi-config nonint do_i2c 0` and reboot, or run `facepace sim` on a computer")
    try:
        import busio  # Blinka; hardware-only dependency from the `pi` extra
        from adafruit_blinka.microcontroller.generic_linux.i2c import I2C as LinuxI2C
    except (ImportError, NotImplementedError, RuntimeError) as error:
        raise NoHardwareError(
            f"cannot load Blinka for I2C ({error}): install the device extra, `pip install 'facepace[pi]'`"
        ) from error

    class NumberedI2C(busio.I2C):
        # busio.I2C picks its bus from board pins, which only names bus 1; this opens any
        # /dev/i2c-N (as adafruit_extended_bus does) and keeps busio's locking and writeto().
        def __init__(self, number: int) -> None:  # noqa: D401 - busio's init is replaced
            import threading

            self._lock = threading.RLock()
            self._i2c = LinuxI2C(number, mode=LinuxI2C.MASTER)

    try:
        return NumberedI2C(bus_number)
    except PermissionError as error:
        raise NoHardwareError(
            f"no permission to open {device_path}: add the service user to the `i2c` group") from error
    except RuntimeError as error:
        raise NoHardwareError(f"cannot open I2C bus {bus_number}: {error}") from error
