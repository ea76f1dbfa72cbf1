"""On the real device only (`pytest --hardware` on the Pi, with the service stopped):
the same drivers on the real pins and bus, with a person pressing the button.

These are skipped everywhere else; the rest of the suite covers the same code on
gpiozero's mock pins and the decoding fake I2C bus.
"""

import threading
import time

import pytest
from PIL import Image, ImageDraw

from device.settings.config import load_config_file_or_defaults

pytestmark = pytest.mark.hardware


@pytest.fixture(scope="module")
def config():
    return load_config_file_or_defaults()


def test_the_panel_takes_a_test_pattern(config):
    from drivers.oled import open_i2c_display

    with open_i2c_display(config.display.bus, config.display.address, config.display.rotation) as panel:
        image = Image.new("1", (128, 64))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, 127, 63), outline=255)
        draw.text((8, 24), "facepace test", fill=255)
        panel.show(image)
        time.sleep(2)          # for the person watching: a frame and the words, upright


def test_the_motor_buzzes_at_each_level(config):
    from drivers.motor import VibrationMotor

    with VibrationMotor(config.motor.pin, frequency=config.motor.frequency) as motor:
        for duty in (config.motor.min_duty, (config.motor.min_duty + config.motor.max_duty) / 2,
                     config.motor.max_duty):
            motor.set(1.0)                    # the kick-start, as the firmware does it
            time.sleep(config.motor.kick_ms / 1000)
            motor.set(duty)
            time.sleep(0.4)
            motor.off()
            time.sleep(0.3)
        assert motor.duty == 0.0


def test_a_press_on_the_real_button_reaches_the_callback(config):
    from drivers.button import PushButton

    edges, pressed = [], threading.Event()

    def on_edge(is_down):
        edges.append(is_down)
        if not is_down:
            pressed.set()

    with PushButton(config.button.pin, bounce_seconds=config.button.bounce_ms / 1000, on_edge=on_edge):
        print("\npress and release the button within 15 s")
        assert pressed.wait(15), "no press seen: check the wiring (BCM pin, to ground)"
    assert edges[:2] == [True, False]       # debounced: one press, one release
