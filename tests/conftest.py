"""Shared fixtures and command-line switches for the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops

REFERENCE_DIR = Path(__file__).parent / "reference"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-reference", action="store_true", default=False,
                     help="rewrite tests/reference/*.png from the current rendering instead of comparing")
    parser.addoption("--hardware", action="store_true", default=False,
                     help="also run the tests marked 'hardware' (a Raspberry Pi with the device wired)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="needs the real device: run on the Pi with pytest --hardware")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("1"), b.convert("1")).getbbox() is None


@pytest.fixture
def reference_image(request: pytest.FixtureRequest, tmp_path: Path):
    """`reference_image(name, image)` asserts `image` matches tests/reference/NAME.png.

    With --update-reference it writes the file instead; a mismatch saves the new image next
    to the test's temporary files so it can be looked at.
    """
    update = request.config.getoption("--update-reference")

    def check(name: str, image: Image.Image) -> None:
        path = REFERENCE_DIR / f"{name}.png"
        if update:
            REFERENCE_DIR.mkdir(exist_ok=True)
            image.save(path)
            return
        assert path.exists(), f"no reference {path}; run pytest --update-reference and look at it"
        with Image.open(path) as reference:
            if not same_pixels(image, reference):
                actual = tmp_path / f"{name}.actual.png"
                image.save(actual)
                pytest.fail(f"{name} differs from {path} (new rendering saved as {actual})")

    return check
