"""OLED traffic: bytes our driver puts on the I2C bus vs adafruit's full-frame show().

Both drivers run on the decoding fake bus, over the same frames, starting after their
(identical) controller initialisation. Until the simulator's frames are wired in, the frames
are a synthetic zone screen: title, cue, a big m:ss countdown changing every second, a zone
progress bar and "n/N", for an 8-minute routine of 7 zones, one frame per changed second.
Pass real frames with `run(frames)`.
"""

from __future__ import annotations

import time
from typing import Iterable, Iterator

from PIL import Image, ImageDraw, ImageFont

from drivers.fakes.i2c import FakeSSD1306Bus
from drivers.oled import WINDOW_OVERHEAD, OledDisplay, dirty_spans, pages_of

WIDTH, HEIGHT = 128, 64
TARGET_RATIO = 0.25
STANDARD_MODE_HZ, FAST_MODE_HZ = 100_000, 400_000   # the Pi's default; what install.sh sets
WORST_FRAME_TARGET = 0.030                          # on the wire at 400 kHz: between two ticks with room
ZONES = [("Neck", "Stroke down to collarbone", 60), ("Jawline", "Chin to ear, firm", 75),
         ("Cheeks", "Nose to temple, medium", 90), ("Under-eye", "Ring finger, lightest", 45),
         ("Brows", "Inner to outer brow", 60), ("Forehead", "Up to hairline", 90),
         ("Collarbone", "Sweep outward, slow", 60)]  # 480 s


def zone_screens() -> Iterator[Image.Image]:
    """One frame per second of an 8-minute routine, laid out like the zone screen."""
    title_font = ImageFont.load_default(size=14)
    small_font = ImageFont.load_default(size=9)
    clock_font = ImageFont.load_default(size=22)
    for number, (title, cue, seconds) in enumerate(ZONES, start=1):
        for elapsed in range(seconds):
            image = Image.new("1", (WIDTH, HEIGHT), 0)
            draw = ImageDraw.Draw(image)
            draw.text((0, 0), title, font=title_font, fill=255)
            draw.text((WIDTH - 22, 2), f"{number}/{len(ZONES)}", font=small_font, fill=255)
            draw.text((0, 16), cue, font=small_font, fill=255)
            remaining = seconds - elapsed
            draw.text((WIDTH // 2, 40), f"{remaining // 60}:{remaining % 60:02d}", font=clock_font,
                      fill=255, anchor="mm")
            draw.rectangle((0, 56, WIDTH - 1, 63), outline=255)
            filled = round((WIDTH - 4) * elapsed / seconds)
            if filled:
                draw.rectangle((2, 58, 1 + filled, 61), fill=255)
            yield image


def wire_seconds(data_bytes: int, transactions: int, hz: int) -> float:
    """Time on an I2C bus at `hz` for `data_bytes` written in `transactions` writes: each byte
    is 9 clocks (8 bits and the acknowledge), each write adds its address byte and a start and
    a stop condition (about one clock each). Clock stretching and the gaps the kernel's driver
    leaves between writes come on top."""
    return (9 * (data_bytes + transactions) + 2 * transactions) / hz


def adafruit_full_show_bytes(frames: list[Image.Image]) -> tuple[int, int]:
    """Bytes and transactions of adafruit's own show() for every frame."""
    bus = FakeSSD1306Bus()
    import adafruit_ssd1306

    panel = adafruit_ssd1306.SSD1306_I2C(WIDTH, HEIGHT, bus)
    bus.reset_counters()
    for frame in frames:
        panel.image(frame)
        panel.show()
    return bus.bytes_written, bus.transactions


def per_page_window_bytes(frames: list[Image.Image]) -> int:
    """What one window per dirty page (no merging of pages) would put on the bus."""
    total = 0
    on_panel = pages_of(Image.new("1", (WIDTH, HEIGHT), 0))
    for frame in frames:
        pages = pages_of(frame)
        for span in dirty_spans(on_panel, pages):
            if span is not None:
                total += (WINDOW_OVERHEAD - 2) + span[1] - span[0] + 1  # payload: no address bytes
        on_panel = pages
    return total


def run(frames: Iterable[Image.Image] | None = None) -> list[dict]:
    frames = list(zone_screens() if frames is None else frames)
    # The app sends a frame only when its pixels change; hold both drivers to that.
    changed = [frame for index, frame in enumerate(frames)
               if index == 0 or frame.tobytes() != frames[index - 1].tobytes()]

    bus = FakeSSD1306Bus()
    display = OledDisplay(bus)
    bus.reset_counters()
    started = time.perf_counter()
    worst = (0, 0)   # (bytes, transactions) of the frame longest on the wire
    for frame in changed:
        before = (bus.bytes_written, bus.transactions)
        display.show(frame)
        sent = (bus.bytes_written - before[0], bus.transactions - before[1])
        if wire_seconds(*sent, FAST_MODE_HZ) > wire_seconds(*worst, FAST_MODE_HZ):
            worst = sent
    show_seconds = (time.perf_counter() - started) / max(1, len(changed))
    ours, our_transactions = bus.bytes_written, bus.transactions
    if bus.errors or bus.image().tobytes() != changed[-1].tobytes():
        raise RuntimeError(f"driver left the panel wrong: {bus.errors}")

    full, full_transactions = adafruit_full_show_bytes(changed)
    unmerged = per_page_window_bytes(changed)

    started = time.perf_counter()
    for _ in range(200):
        bus.image()
    decode_seconds = (time.perf_counter() - started) / 200

    full_frame = (full // len(changed), full_transactions // len(changed))
    ratio = ours / full
    wire_ratio = (ours + our_transactions) / (full + full_transactions)  # + one address byte each
    return [
        {"name": "OLED bytes vs full show()", "value": f"{ratio:.1%} ({ours:,} of {full:,} B, {len(changed)} frames)",
         "target": f"<= {TARGET_RATIO:.0%}", "ok": ratio <= TARGET_RATIO},
        {"name": "OLED bytes incl. I2C address bytes", "value": f"{wire_ratio:.1%}",
         "target": f"<= {TARGET_RATIO:.0%}", "ok": wire_ratio <= TARGET_RATIO},
        {"name": "OLED bytes, one window per page", "value": f"{unmerged / full:.1%} (merging saves {1 - ours / unmerged:.1%})",
         "target": "info", "ok": True},
        {"name": "OLED worst frame on the wire, 100 | 400 kHz",
         "value": f"{wire_seconds(*worst, STANDARD_MODE_HZ) * 1000:.1f} | {wire_seconds(*worst, FAST_MODE_HZ) * 1000:.1f} ms"
                  f" ({worst[0]:,} B in {worst[1]} writes)",
         "target": f"< {WORST_FRAME_TARGET * 1000:.0f} ms at 400k", "ok": wire_seconds(*worst, FAST_MODE_HZ) < WORST_FRAME_TARGET},
        {"name": "OLED full show() on the wire, 100 | 400 kHz",
         "value": f"{wire_seconds(*full_frame, STANDARD_MODE_HZ) * 1000:.1f} | "
                  f"{wire_seconds(*full_frame, FAST_MODE_HZ) * 1000:.1f} ms ({full_frame[0]:,} B in {full_frame[1]} writes)",
         "target": "info", "ok": True},
        {"name": "OLED show() per frame, driver + fake bus", "value": f"{show_seconds * 1e6:.0f} us",
         "target": "< 2 ms", "ok": show_seconds < 0.002},
        {"name": "fake panel decode (image()) per frame", "value": f"{decode_seconds * 1e6:.0f} us",
         "target": "< 1 ms", "ok": decode_seconds < 0.001},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<44} {row['value']:<44} {row['target']:<8} {'ok' if row['ok'] else 'FAIL'}")
