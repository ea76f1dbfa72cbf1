"""The OLED driver on the real adafruit_ssd1306, over a fake bus that decodes what the panel would show."""

from __future__ import annotations

import errno
import random

import adafruit_ssd1306
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from drivers.errors import NoHardwareError
from drivers.fakes.i2c import FakeSSD1306Bus
from drivers.oled import OledDisplay, Window, open_i2c_display, pages_of, plan_windows

WIDTH, HEIGHT = 128, 64
LOOSE_CABLE = OSError(errno.EREMOTEIO, "Remote I/O error")


# -- helpers and fixtures ----------------------------------------------------------------

def blank() -> Image.Image:
    return Image.new("1", (WIDTH, HEIGHT), 0)


def same_picture(a: Image.Image, b: Image.Image) -> bool:
    # tobytes() packs any non-zero pixel as 1, so images drawn with fill=1 or 255 compare equal.
    return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()


def picture_with_corner_mark() -> Image.Image:
    """Not symmetric under any flip: an L in the top-left corner and a dot bottom-right."""
    image = blank()
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 19, 2), fill=255)
    draw.rectangle((0, 0, 2, 29), fill=255)
    draw.point((120, 60), fill=255)
    return image


class WriteRecorder:
    """Collects every payload the bus receives, via the bus's test hook."""

    def __init__(self, bus: FakeSSD1306Bus) -> None:
        self.payloads: list[bytes] = []
        bus.before_write = self.payloads.append


@pytest.fixture
def bus() -> FakeSSD1306Bus:
    return FakeSSD1306Bus()


@pytest.fixture
def oled(bus):
    with OledDisplay(bus) as display:
        yield display


def send(bus: FakeSSD1306Bus, *payloads: bytes) -> None:
    for payload in payloads:
        assert bus.try_lock()
        try:
            bus.writeto(0x3C, payload)
        finally:
            bus.unlock()


UPRIGHT_SETUP = bytes((0x00, 0x20, 0x00, 0xA1, 0xC8, 0x8D, 0x14, 0xAF, 0x21, 0, 127, 0x22, 0, 7))


# -- the fake bus decodes the controller stream -------------------------------------------

def test_decoder_puts_data_bytes_where_the_column_and_page_window_says(bus):
    send(bus, UPRIGHT_SETUP,
         bytes((0x00, 0x21, 10, 11, 0x22, 3, 4)),
         bytes((0x40, 0x01, 0x80, 0xFF, 0x00)))
    expected = blank()
    expected.putpixel((10, 24), 1)  # page 3, bit 0
    expected.putpixel((11, 31), 1)  # page 3, bit 7
    for row in range(32, 40):  # the window wraps to page 4 at column 10
        expected.putpixel((10, row), 1)
    assert same_picture(bus.image(), expected)
    assert bus.errors == []


def test_decoder_keeps_command_arguments_across_transactions_like_adafruit_sends_them(bus):
    send(bus, bytes((0x80, 0x81)), bytes((0x80, 0x42)), bytes((0x80, 0xA7)))
    assert bus.contrast == 0x42
    assert bus.inverted
    assert list(bus.commands)[-2:] == [(0x81, (0x42,)), (0xA7, ())]


def test_decoder_records_unknown_commands_and_bad_control_bytes(bus):
    send(bus, bytes((0x00, 0x24)), bytes((0x01, 0xAF)), bytes((0x80,)))
    assert bus.errors == [
        "unknown command 0x24",
        "control byte 0x01 has low bits set",
        "control byte 0x80 ends the transaction",
    ]


def test_segment_remap_applies_to_later_writes_and_com_direction_at_once(bus):
    send(bus, UPRIGHT_SETUP, bytes((0x40, 0x01)))  # pixel (0, 0)
    send(bus, bytes((0x80, 0xA0)))  # already-written data keeps its place
    assert bus.image().getpixel((0, 0))
    send(bus, bytes((0x80, 0xC0)))  # COM direction flips the picture immediately
    assert bus.image().getbbox() == (0, 63, 1, 64)
    send(bus, bytes((0x00, 0x21, 0, 127, 0x22, 0, 7)), bytes((0x40, 0x00, 0x01)))
    # under A0 column 0 is SEG0 (right edge), so the old pixel on SEG127 stays; column 1 is SEG1
    shown = bus.image()
    assert shown.getpixel((0, 63)) and shown.getpixel((126, 63))
    assert shown.getbbox() == (0, 63, 127, 64)


def test_start_line_scrolls_the_picture_up(bus):
    send(bus, UPRIGHT_SETUP, bytes((0x00, 0x21, 5, 5, 0x22, 0, 0)), bytes((0x40, 0x02)))  # (5, 1)
    send(bus, bytes((0x80, 0x41)))
    assert bus.image().getbbox() == (5, 0, 6, 1)


def test_display_off_entire_on_and_missing_charge_pump_are_what_you_see(bus):
    send(bus, UPRIGHT_SETUP, bytes((0x40, 0xFF)))
    assert bus.image().getbbox() is not None
    send(bus, bytes((0x80, 0xA5)))
    assert bus.image().getbbox() == (0, 0, 128, 64)
    send(bus, bytes((0x80, 0xA4)), bytes((0x80, 0x8D, 0x80, 0x10)))
    assert bus.powered and bus.image().getbbox() is None  # no supply for the panel
    send(bus, bytes((0x80, 0x8D, 0x80, 0x14)), bytes((0x80, 0xAE)))
    assert not bus.powered and bus.image().getbbox() is None


def test_page_addressing_mode_wraps_within_the_page(bus):
    send(bus, UPRIGHT_SETUP, bytes((0x80, 0x20, 0x80, 0x02)),  # page mode
         bytes((0x00, 0xB5, 0x0E, 0x17)),  # page 5, column 0x7E
         bytes((0x40, 0x01, 0x01, 0x01)))  # columns 126, 127, then back to the start column
    assert bus.gddram()[5 * 128:6 * 128].count(1) == 2  # SEG1 and SEG0; column 126 was overwritten
    assert bus.image().getbbox() == (126, 40, 128, 41)
    assert bus.errors == []


def test_a_failing_bus_raises_until_recovered(bus):
    bus.fail_with(LOOSE_CABLE)
    with pytest.raises(OSError) as raised:
        send(bus, bytes((0x80, 0xAF)))
    assert raised.value.errno == errno.EREMOTEIO
    assert bus.scan() == []
    bus.recover()
    send(bus, bytes((0x80, 0xAF)))
    assert bus.powered and bus.scan() == [0x3C]


def test_wrong_address_is_not_acknowledged(bus):
    assert bus.try_lock()
    with pytest.raises(OSError):
        bus.writeto(0x3D, b"\x80\xaf")
    bus.unlock()
    assert not bus.powered


# -- the driver ---------------------------------------------------------------------------

def test_pages_of_matches_adafruits_own_image_conversion(oled):
    picture = picture_with_corner_mark()
    ImageDraw.Draw(picture).text((30, 20), "4:59", fill=255)
    oled.ssd1306.image(picture)
    assert b"".join(pages_of(picture)) == bytes(oled.ssd1306.buffer[1:])


def test_one_pixel_sends_one_column_of_one_page(bus, oled):
    recorder = WriteRecorder(bus)
    picture = blank()
    picture.putpixel((5, 19), 1)  # page 2, bit 3
    oled.show(picture)
    assert recorder.payloads == [bytes((0x00, 0x21, 5, 5, 0x22, 2, 2)), bytes((0x40, 0x08))]
    assert same_picture(bus.image(), picture)


def test_changed_span_within_a_page_is_all_that_is_sent(bus, oled):
    first = blank()
    ImageDraw.Draw(first).rectangle((10, 8, 40, 15), fill=255)
    oled.show(first)
    second = first.copy()
    ImageDraw.Draw(second).rectangle((20, 8, 22, 15), fill=0)
    recorder = WriteRecorder(bus)
    oled.show(second)
    assert recorder.payloads == [bytes((0x00, 0x21, 20, 22, 0x22, 1, 1)), bytes((0x40, 0, 0, 0))]


def test_an_unchanged_frame_sends_nothing(bus, oled):
    picture = picture_with_corner_mark()
    oled.show(picture)
    bus.reset_counters()
    oled.show(picture.copy())
    assert bus.bytes_written == 0 and bus.transactions == 0


def test_first_show_after_init_sends_only_what_differs_from_the_cleared_panel(bus):
    display = OledDisplay(bus)
    bus.reset_counters()
    picture = blank()
    picture.putpixel((127, 63), 1)
    display.show(picture)
    assert bus.bytes_written == 7 + 2
    assert same_picture(bus.image(), picture)


def test_init_clears_a_panel_that_powered_up_with_garbage(bus):
    bus.reset_controller(garbage=True)
    display = OledDisplay(bus)
    assert bus.image().getbbox() is None
    display.show(picture_with_corner_mark())
    assert same_picture(bus.image(), picture_with_corner_mark())


def test_rotation_180_shows_the_picture_upright_on_an_upside_down_panel(bus):
    display = OledDisplay(bus, rotation=180)
    picture = picture_with_corner_mark()
    display.show(picture)
    # the glass, seen from its own upright side, shows the picture turned half a turn
    assert same_picture(bus.image().rotate(180), picture)
    assert (bus.segment_remap, bus.com_scan_reversed) == (False, False)


@pytest.mark.parametrize("rotation", [90, 270, -180, "180", None])
def test_other_rotations_are_rejected(bus, rotation):
    with pytest.raises(ValueError, match="rotation must be 0 or 180"):
        OledDisplay(bus, rotation=rotation)


@pytest.mark.parametrize("picture", [
    Image.new("L", (WIDTH, HEIGHT)),
    Image.new("1", (WIDTH, 32)),
    Image.new("1", (HEIGHT, WIDTH)),
])
def test_show_rejects_images_that_are_not_the_panels_1_bit_size(oled, picture):
    with pytest.raises(ValueError, match='mode "1" image of 128x64'):
        oled.show(picture)


def test_contrast_and_power_reach_the_panel(bus, oled):
    oled.contrast(17)
    assert bus.contrast == 17
    oled.poweroff()
    assert not bus.powered and not oled.is_on
    oled.poweron()
    assert bus.powered and oled.is_on
    for bad in (-1, 256, 1.5):
        with pytest.raises(ValueError, match="0..255"):
            oled.contrast(bad)


def test_close_clears_and_powers_off_once(bus):
    display = OledDisplay(bus)
    display.show(picture_with_corner_mark())
    display.close()
    assert not bus.powered
    assert bus.gddram() == bytes(1024)
    bus.reset_counters()
    display.close()
    assert bus.transactions == 0
    with pytest.raises(RuntimeError):
        display.show(blank())


def test_close_on_a_dead_bus_does_not_raise(bus):
    display = OledDisplay(bus)
    bus.fail_with(LOOSE_CABLE)
    display.close()
    assert display.closed


def test_a_panel_that_does_not_answer_raises_oserror(bus):
    bus.fail_with(LOOSE_CABLE)
    with pytest.raises(OSError, match="no SSD1306 answers at I2C address 0x3C"):
        OledDisplay(bus)


def test_a_frame_cut_off_midway_is_repainted_in_full_next_time(bus, oled):
    first = blank()
    ImageDraw.Draw(first).rectangle((0, 0, 127, 7), fill=255)
    ImageDraw.Draw(first).rectangle((0, 56, 127, 63), fill=255)
    bus.fail_with(LOOSE_CABLE, after=2)  # page 0's window lands, page 7's does not
    with pytest.raises(OSError):
        oled.show(first)
    bus.recover()
    bus.reset_counters()
    oled.show(first)
    assert same_picture(bus.image(), first)
    assert bus.bytes_written == 1024 + 8


def test_a_loose_contact_fails_a_share_of_transfers_replayably_until_recovered(bus):
    def outcomes(seed: int) -> list[bool]:
        bus.fail_now_and_then(0.3, random.Random(seed), LOOSE_CABLE)
        failed = []
        for _ in range(200):
            try:
                bus.readfrom_into(0x3C, bytearray(1))
                failed.append(False)
            except OSError as error:
                assert error.errno == errno.EREMOTEIO and error is not LOOSE_CABLE
                failed.append(True)
        return failed

    first = outcomes(7)
    assert 30 < sum(first) < 90 and bus.failed_transactions == sum(first)
    assert outcomes(7) == first   # a seed replays it
    bus.recover()
    for _ in range(50):
        bus.readfrom_into(0x3C, bytearray(1))   # the contact holds again


def test_adafruit_buffer_follows_what_was_shown(oled):
    picture = picture_with_corner_mark()
    oled.show(picture)
    assert bytes(oled.ssd1306.buffer[1:]) == b"".join(pages_of(picture))


def test_open_i2c_display_without_the_bus_says_how_to_enable_i2c():
    with pytest.raises(NoHardwareError, match="raspi-config nonint do_i2c 0"):
        open_i2c_display(97, 0x3C, 0)


# -- window planning ----------------------------------------------------------------------

def test_adjacent_pages_with_the_same_span_share_one_window():
    spans = [None, None, None, (10, 20), (10, 20), None, None, None]
    assert plan_windows(spans) == [Window(3, 4, 10, 20)]


def test_distant_narrow_spans_get_their_own_windows():
    spans = [(0, 1), None, None, None, None, None, None, (126, 127)]
    assert plan_windows(spans) == [Window(0, 0, 0, 1), Window(7, 7, 126, 127)]


def test_a_clean_page_between_wide_spans_is_cheaper_to_resend_than_a_second_window():
    spans = [(0, 3), None, (0, 3), None, None, None, None, None]
    assert plan_windows(spans) == [Window(0, 2, 0, 3)]


def test_nothing_dirty_means_no_windows():
    assert plan_windows([None] * 8) == []


# -- properties over random sequences of frames --------------------------------------------

rectangles = st.tuples(st.integers(0, WIDTH - 1), st.integers(0, HEIGHT - 1),
                       st.integers(0, 40), st.integers(0, 20), st.sampled_from([0, 255]))
edits = st.one_of(
    st.lists(rectangles, min_size=1, max_size=4).map(lambda rects: ("draw", rects)),
    st.binary(min_size=1024, max_size=1024).map(lambda noise: ("noise", noise)),
)


def apply(edit, previous: Image.Image) -> Image.Image:
    kind, payload = edit
    if kind == "noise":
        return Image.frombytes("1", (WIDTH, HEIGHT), payload)
    picture = previous.copy()
    draw = ImageDraw.Draw(picture)
    for x, y, w, h, colour in payload:
        draw.rectangle((x, y, x + w, y + h), fill=colour)
    return picture


@settings(max_examples=60, deadline=None)
@given(sequence=st.lists(edits, min_size=1, max_size=12), rotation=st.sampled_from([0, 180]))
def test_panel_shows_exactly_each_image_of_any_sequence(sequence, rotation):
    bus = FakeSSD1306Bus()
    display = OledDisplay(bus, rotation=rotation)
    picture = blank()
    for edit in sequence:
        picture = apply(edit, picture)
        display.show(picture)
        seen = bus.image().rotate(180) if rotation == 180 else bus.image()
        assert same_picture(seen, picture)
        assert bytes(display.ssd1306.buffer[1:]) == b"".join(pages_of(picture))
    assert bus.errors == []


@settings(max_examples=40, deadline=None)
@given(noise=st.binary(min_size=1024, max_size=1024))
def test_page_conversion_agrees_with_adafruit_for_any_image(noise):
    picture = Image.frombytes("1", (WIDTH, HEIGHT), noise)
    panel = OledDisplay(FakeSSD1306Bus())
    panel.ssd1306.image(picture)
    assert b"".join(pages_of(picture)) == bytes(panel.ssd1306.buffer[1:])


class LinuxI2COnFakeBus:
    """Stands in for Blinka's /dev/i2c-N backend, forwarding to a FakeSSD1306Bus."""

    MASTER = 0
    bus = None
    opened: list[int] = []   # the bus numbers opened, in order

    def __init__(self, bus_num, mode=MASTER, baudrate=None):
        self.bus_num = bus_num
        self.opened.append(bus_num)

    def writeto(self, address, buffer, *, stop=True):
        with_lock(self.bus, lambda: self.bus.writeto(address, buffer))

    def readfrom_into(self, address, buffer, *, stop=True):
        with_lock(self.bus, lambda: self.bus.readfrom_into(address, buffer))


def with_lock(bus, action):
    assert bus.try_lock()
    try:
        action()
    finally:
        bus.unlock()


def test_open_i2c_display_opens_the_numbered_bus_with_blinka_and_owns_it(monkeypatch, bus):
    busio = pytest.importorskip("busio")
    generic_linux = pytest.importorskip("adafruit_blinka.microcontroller.generic_linux.i2c")

    class ExistingPath:
        def __init__(self, path):
            self.path = path

        def exists(self):
            return True

    monkeypatch.setattr("drivers.oled.Path", ExistingPath)
    monkeypatch.setattr(generic_linux, "I2C", LinuxI2COnFakeBus)
    monkeypatch.setattr(LinuxI2COnFakeBus, "bus", bus)
    monkeypatch.setattr(LinuxI2COnFakeBus, "opened", [])
    released = []   # the busio.I2C objects let go (Blinka's deinit drops its backend)
    deinit = busio.I2C.deinit
    monkeypatch.setattr(busio.I2C, "deinit", lambda i2c: (released.append(i2c), deinit(i2c))[-1])
    display = open_i2c_display(3, 0x3C, 180)
    assert LinuxI2COnFakeBus.opened == [3]   # through busio, on /dev/i2c-3
    display.show(picture_with_corner_mark())
    assert same_picture(bus.image().rotate(180), picture_with_corner_mark())
    assert released == []
    display.close()
    assert len(released) == 1   # the display owns the bus it opened
