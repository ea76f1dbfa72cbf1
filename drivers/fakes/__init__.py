"""Fakes at the pin and bus level only: gpiozero MockFactory pins and the SSD1306 on a fake I2C
bus.
"""
