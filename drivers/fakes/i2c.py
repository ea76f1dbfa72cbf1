"""A fake `busio.I2C` with an SSD1306 on it: decodes what the real driver sends into what a person sees.

Tests and the simulator hand `FakeSSD1306Bus` to the real `adafruit_ssd1306.SSD1306_I2C`
(through our `drivers.oled.OledDisplay`). The bus decodes the I2C byte stream the way the
controller does (datasheet: SSD1306 rev 1.1, sections 8.1.5 and 10) into GDDRAM and panel
registers, and `image()` renders the 128x64 picture as the glass would show it.

Two details of the real controller are modelled on purpose, because a driver can get them wrong:
- segment remap (A0/A1) applies when data is *written*: GDDRAM already written keeps its old
  mapping, so after `rotate()` the picture is only right once it is sent again;
- COM scan direction (C0/C8), start line, multiplex ratio, invert, entire-on and display on/off
  apply at once, to what is already in GDDRAM.
Command arguments may arrive in later transactions (adafruit sends `0x81` and the contrast
value as two writes), so the command parser keeps its state between writes, like the chip.

Not modelled: scrolling (its commands are decoded and flagged), COM pin configuration other
than the one the panel is wired for (recorded in `com_pins`), display offset other than as a
vertical shift, contrast as brightness (the image is 1 bit).

Size (~320 lines): one job, the controller's command set; splitting it would split one state
machine.
"""

from __future__ import annotations

import copy
import errno
import random
import threading
from collections import deque
from typing import Callable

from PIL import Image, ImageChops

COLUMNS = 128  # the controller's GDDRAM is always 128 columns x 8 pages
PAGES = 8
ROWS = PAGES * 8

HORIZONTAL, VERTICAL, PAGE = 0, 1, 2

# Commands that take arguments, and how many (SSD1306 datasheet, table 9-1, plus 0xAD IREF
# select that adafruit sends, 0x23 fade and 0xD6 zoom of the SSD1306B).
ARGUMENT_COUNTS = {
    0x20: 1, 0x21: 2, 0x22: 2, 0x23: 1, 0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5,
    0x81: 1, 0x8D: 1, 0xA3: 2, 0xA8: 1, 0xAD: 1,
    0xD3: 1, 0xD5: 1, 0xD6: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1,
}
SINGLE_BYTE_COMMANDS = (
    set(range(0x00, 0x20))  # column start nibbles (page mode)
    | set(range(0x40, 0x80))  # display start line
    | set(range(0xB0, 0xB8))  # page start (page mode)
    | {0x2E, 0x2F, 0xA0, 0xA1, 0xA4, 0xA5, 0xA6, 0xA7, 0xAE, 0xAF, 0xC0, 0xC8, 0xE3}
)

REMOTE_IO_ERROR = OSError(errno.EREMOTEIO, "Remote I/O error")  # what Linux reports for a NACK


class FakeSSD1306Bus:
    """A `busio.I2C`-shaped bus with one SSD1306 at `address` (128 columns, `height` rows)."""

    def __init__(self, *, address: int = 0x3C, height: int = 64, external_vcc: bool = False,
                 log_length: int = 2000) -> None:
        if height not in (32, 64):
            raise ValueError(f"height must be 32 or 64, got {height}")
        self.address = address
        self.height = height
        self.external_vcc = external_vcc
        self.bytes_written = 0  # every byte handed to writeto(), control bytes included
        self.transactions = 0  # I2C transactions (each also puts an address byte on the wire)
        self.failed_transactions = 0
        self.commands: deque[tuple[int, tuple[int, ...]]] = deque(maxlen=log_length)
        self.errors: list[str] = []
        self.before_write: Callable[[bytes], None] | None = None  # test hook: runs before decoding
        self.deinitialised = False
        self._bus_lock = threading.Lock()  # what try_lock()/unlock() hand out
        self._state_lock = threading.Lock()  # decoder state vs. image() from another thread
        self._flaky: tuple[float, random.Random, BaseException] | None = None
        self._failure: BaseException | None = None
        self._writes_before_failure = 0
        self.others: dict[int, object] = {}  # further chips on the same wires, by address (attach())
        self.reset_controller()

    # -- the controller ----------------------------------------------------------------

    def reset_controller(self, *, garbage: bool = False) -> None:
        """Power-on reset: datasheet defaults; GDDRAM zero, or a noise pattern like a real chip."""
        with self._state_lock:
            if garbage:
                pattern = bytes((i * 37 + 11) & 0xFF for i in range(COLUMNS))
                self._gddram = [bytearray(pattern) for _ in range(PAGES)]
            else:
                self._gddram = [bytearray(COLUMNS) for _ in range(PAGES)]
            self.powered = False
            self.contrast = 0x7F
            self.inverted = False
            self.entire_on = False
            self.segment_remap = False
            self.com_scan_reversed = False
            self.start_line = 0
            self.display_offset = 0
            self.multiplex = ROWS - 1
            self.com_pins = 0x12
            self.charge_pump = False
            self.scrolling = False
            self.memory_mode = PAGE
            self._column_range = (0, COLUMNS - 1)
            self._page_range = (0, PAGES - 1)
            self._column = 0
            self._page = 0
            self._page_mode_column_start = 0
            self._opcode: int | None = None  # command waiting for arguments
            self._arguments: list[int] = []

    @property
    def lit(self) -> bool:
        """True when the glass can show anything: display on, and a supply for the panel."""
        return self.powered and (self.charge_pump or self.external_vcc)

    def gddram(self) -> bytes:
        """The display RAM, page by page, indexed by segment (SEG0 first)."""
        with self._state_lock:
            return b"".join(bytes(page) for page in self._gddram)

    def image(self) -> Image.Image:
        """What a person sees on the glass: mode "1", 128 x height."""
        with self._state_lock:
            return self._render()

    # -- busio.I2C -----------------------------------------------------------------------

    def try_lock(self) -> bool:
        return self._bus_lock.acquire(blocking=False)

    def unlock(self) -> None:
        try:
            self._bus_lock.release()
        except RuntimeError:  # busio allows unlocking an unlocked bus
            pass

    def attach(self, chip) -> None:
        """Put another chip on the bus (e.g. `FakeMAX17048`): transfers to `chip.address` go to
        its `write(bytes)` and `read(count)`, which raise OSError for a NACK."""
        self.others[chip.address] = chip

    def scan(self) -> list[int]:
        if self._failure is not None:
            return []
        answering = [address for address, chip in self.others.items() if getattr(chip, "present", True)]
        return sorted([self.address, *answering])

    def writeto(self, address: int, buffer, *, start: int = 0, end: int | None = None) -> None:
        payload = bytes(memoryview(buffer)[start:end])
        self._check_usable()
        if not self._bus_lock.locked():
            self.errors.append("writeto() without try_lock()")
        self._maybe_fail()
        if address in self.others:
            self.others[address].write(payload)
            return
        if address != self.address:
            self.failed_transactions += 1
            raise copy.copy(REMOTE_IO_ERROR)
        if self.before_write is not None:
            self.before_write(payload)
        with self._state_lock:
            self.transactions += 1
            self.bytes_written += len(payload)
            self._decode(payload)

    def readfrom_into(self, address: int, buffer, *, start: int = 0, end: int | None = None) -> None:
        self._check_usable()
        self._maybe_fail()
        view = memoryview(buffer)[start:end]
        if address in self.others:
            view[:] = self.others[address].read(len(view))
            return
        if address != self.address:
            self.failed_transactions += 1
            raise copy.copy(REMOTE_IO_ERROR)
        self.transactions += 1
        # The only thing an SSD1306 returns over I2C is its status byte: bit 6 = display off.
        for index in range(len(view)):
            view[index] = 0x00 if self.powered else 0x40

    def writeto_then_readfrom(self, address: int, buffer_out, buffer_in, *, out_start: int = 0,
                              out_end: int | None = None, in_start: int = 0,
                              in_end: int | None = None, stop: bool = False) -> None:
        self.writeto(address, buffer_out, start=out_start, end=out_end)
        self.readfrom_into(address, buffer_in, start=in_start, end=in_end)

    def deinit(self) -> None:
        self.deinitialised = True

    def __enter__(self) -> "FakeSSD1306Bus":
        return self

    def __exit__(self, *exc_info) -> None:
        self.deinit()

    # -- making the bus fail -------------------------------------------------------------

    def fail_with(self, error: BaseException, *, after: int = 0) -> None:
        """Every transfer raises a copy of `error` (after `after` more good writes) until `recover()`.

        `OSError(121, "Remote I/O error")` is what a loose cable gives on Linux.
        """
        self._failure = error
        self._writes_before_failure = after

    def fail_now_and_then(self, rate: float, rng: random.Random, error: BaseException = REMOTE_IO_ERROR) -> None:
        """A loose contact: each transfer raises a copy of `error` with chance `rate` (drawn from
        `rng`, so a seed replays it) until `recover()`."""
        self._flaky = (rate, rng, error)

    def recover(self) -> None:
        self._failure = None
        self._flaky = None

    def reset_counters(self) -> None:
        self.bytes_written = 0
        self.transactions = 0
        self.failed_transactions = 0
        self.commands.clear()

    def _check_usable(self) -> None:
        if self.deinitialised:
            raise RuntimeError("I2C bus used after deinit()")

    def _maybe_fail(self) -> None:
        if self._flaky is not None:
            rate, rng, error = self._flaky
            if rng.random() < rate:
                self.failed_transactions += 1
                raise copy.copy(error)
        if self._failure is None:
            return
        if self._writes_before_failure > 0:
            self._writes_before_failure -= 1
            return
        self.failed_transactions += 1
        raise copy.copy(self._failure)

    # -- decoding ------------------------------------------------------------------------

    def _decode(self, payload: bytes) -> None:
        """Split one transaction by its control bytes (Co = bit 7, D/C# = bit 6)."""
        index = 0
        while index < len(payload):
            control = payload[index]
            index += 1
            if control & 0x3F:
                self.errors.append(f"control byte 0x{control:02X} has low bits set")
            is_data = bool(control & 0x40)
            if control & 0x80:  # Co=1: one byte, then another control byte
                if index >= len(payload):
                    self.errors.append(f"control byte 0x{control:02X} ends the transaction")
                    return
                chunk = payload[index:index + 1]
                index += 1
            else:  # Co=0: the rest of the transaction is data, or commands
                chunk = payload[index:]
                index = len(payload)
            if is_data:
                self._write_data(chunk)
            else:
                for byte in chunk:
                    self._command_byte(byte)

    def _command_byte(self, byte: int) -> None:
        if self._opcode is not None:
            self._arguments.append(byte)
            if len(self._arguments) == ARGUMENT_COUNTS[self._opcode]:
                opcode, arguments = self._opcode, tuple(self._arguments)
                self._opcode, self._arguments = None, []
                self._execute(opcode, arguments)
            return
        if byte in ARGUMENT_COUNTS:
            self._opcode = byte
        elif byte in SINGLE_BYTE_COMMANDS:
            self._execute(byte, ())
        else:
            self.errors.append(f"unknown command 0x{byte:02X}")

    def _execute(self, opcode: int, arguments: tuple[int, ...]) -> None:
        self.commands.append((opcode, arguments))
        if opcode <= 0x0F:
            self._page_mode_column_start = (self._page_mode_column_start & 0xF0) | opcode
            self._column = self._page_mode_column_start
        elif opcode <= 0x1F:
            self._page_mode_column_start = (self._page_mode_column_start & 0x0F) | ((opcode & 0x07) << 4)
            self._column = self._page_mode_column_start
        elif opcode == 0x20:
            if arguments[0] & 0x03 == 0x03:
                self.errors.append("memory addressing mode 0b11 is invalid")
            else:
                self.memory_mode = arguments[0] & 0x03
        elif opcode == 0x21:
            self._column_range = (arguments[0] & 0x7F, arguments[1] & 0x7F)
            self._column = self._column_range[0]
        elif opcode == 0x22:
            self._page_range = (arguments[0] & 0x07, arguments[1] & 0x07)
            self._page = self._page_range[0]
        elif opcode in (0x26, 0x27, 0x29, 0x2A, 0xA3, 0x23, 0xD6):
            pass  # scroll/fade/zoom set-up: takes effect only when activated
        elif opcode == 0x2E:
            self.scrolling = False
        elif opcode == 0x2F:
            self.scrolling = True
        elif 0x40 <= opcode <= 0x7F:
            self.start_line = opcode & 0x3F
        elif opcode == 0x81:
            self.contrast = arguments[0]
        elif opcode == 0x8D:
            self.charge_pump = bool(arguments[0] & 0x04)
        elif opcode in (0xA0, 0xA1):
            self.segment_remap = opcode == 0xA1
        elif opcode in (0xA4, 0xA5):
            self.entire_on = opcode == 0xA5
        elif opcode in (0xA6, 0xA7):
            self.inverted = opcode == 0xA7
        elif opcode == 0xA8:
            if arguments[0] & 0x3F < 15:
                self.errors.append(f"multiplex ratio {arguments[0] + 1} is below 16")
            else:
                self.multiplex = arguments[0] & 0x3F
        elif opcode in (0xAE, 0xAF):
            self.powered = opcode == 0xAF
        elif 0xB0 <= opcode <= 0xB7:
            self._page = opcode & 0x07
        elif opcode in (0xC0, 0xC8):
            self.com_scan_reversed = opcode == 0xC8
        elif opcode == 0xD3:
            self.display_offset = arguments[0] & 0x3F
        elif opcode == 0xDA:
            self.com_pins = arguments[0]
        # 0xAD, 0xD5, 0xD9, 0xDB (IREF, clock, pre-charge, VCOMH) and 0xE3 (NOP) change
        # nothing a person could see in a 1-bit picture; they are in `commands`.

    def _write_data(self, data: bytes) -> None:
        """Store data bytes at the address pointer, advancing it as the memory mode says."""
        index = 0
        while index < len(data):
            if self.memory_mode == VERTICAL:
                self._store(self._page, self._column, data[index:index + 1])
                index += 1
                self._advance_vertical()
                continue
            last_column = self._column_range[1] if self.memory_mode == HORIZONTAL else COLUMNS - 1
            run = min(len(data) - index, max(1, last_column - self._column + 1))
            self._store(self._page, self._column, data[index:index + run])
            index += run
            self._column += run
            if self._column > last_column or self._column >= COLUMNS:
                self._wrap_row()

    def _wrap_row(self) -> None:
        if self.memory_mode == PAGE:
            self._column = self._page_mode_column_start
            return
        first_page, last_page = self._page_range
        self._column = self._column_range[0]
        self._page = first_page if self._page >= last_page else self._page + 1

    def _advance_vertical(self) -> None:
        first_page, last_page = self._page_range
        if self._page < last_page:
            self._page += 1
            return
        self._page = first_page
        first_column, last_column = self._column_range
        self._column = first_column if self._column >= last_column else self._column + 1

    def _store(self, page: int, column: int, chunk: bytes) -> None:
        # A1 maps column address 127 to SEG0; applied now, at write time, as the chip does.
        if self.segment_remap:
            last_segment = COLUMNS - 1 - column
            self._gddram[page][last_segment - len(chunk) + 1:last_segment + 1] = chunk[::-1]
        else:
            self._gddram[page][column:column + len(chunk)] = chunk

    # -- rendering -----------------------------------------------------------------------

    def _render(self) -> Image.Image:
        if not self.lit:
            return Image.new("1", (COLUMNS, self.height), 0)
        if self.entire_on:
            picture = Image.new("1", (COLUMNS, self.height), 1)
        else:
            picture = self._picture_from_gddram()
        if self.inverted:
            picture = ImageChops.invert(picture)
        return picture

    def _picture_from_gddram(self) -> Image.Image:
        # Interleave the pages so that each segment is one 8-byte row (page 7 first); as a
        # mode "1" image (MSB = leftmost) that is the RAM turned a quarter, with no pixel loop.
        interleaved = bytearray(COLUMNS * PAGES)
        for page in range(PAGES):
            interleaved[PAGES - 1 - page::PAGES] = self._gddram[page]
        by_segment = Image.frombytes("1", (ROWS, COLUMNS), bytes(interleaved))
        # (x = segment, y = RAM row), then the panel's wiring: SEG0 is at the right edge.
        ram = by_segment.transpose(Image.Transpose.ROTATE_90).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        shift = (self.start_line + self.display_offset) % ROWS
        if shift:
            ram = ImageChops.offset(ram, 0, -shift)
        com_lines = ram.crop((0, 0, COLUMNS, self.multiplex + 1))
        # C8 (scan COM[N-1] to COM0) is upright on these modules, so C0 is upside down.
        if not self.com_scan_reversed:
            com_lines = com_lines.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        picture = Image.new("1", (COLUMNS, self.height), 0)
        picture.paste(com_lines.crop((0, 0, COLUMNS, min(self.height, com_lines.height))), (0, 0))
        return picture
