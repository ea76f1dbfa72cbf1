"""One exception root: every error of ours is a FacepaceError, and its message is built from
its fields in one way."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import companion
import device
import drivers
from device.base import errors
from device.base.errors import FacepaceError, Problem


def modules(package) -> list:
    return [importlib.import_module(info.name)
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
            if not info.name.endswith(".__main__")]   # `python -m device` runs the command


def exceptions_defined_in(package) -> list[type]:
    return [value for module in modules(package) for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, BaseException)
            and value.__module__ == module.__name__]


@pytest.mark.parametrize("package", [device, companion], ids=lambda package: package.__name__)
def test_every_exception_of_ours_derives_from_the_root(package):
    found = exceptions_defined_in(package)
    assert len(found) >= (10 if package is device else 2)   # the walk found them at all
    outside = [f"{kind.__module__}.{kind.__qualname__}" for kind in found if not issubclass(kind, FacepaceError)]
    assert outside == []


def test_what_the_drivers_raise_the_device_has_under_the_root():
    """drivers/ import nothing of ours, so their errors live in drivers.errors; each one has a
    subclass in device.base.errors that is also a FacepaceError, which the device raises."""
    found = exceptions_defined_in(drivers)
    assert found and {kind.__module__ for kind in found} == {"drivers.errors"}
    for kind in found:
        mapped = getattr(errors, kind.__name__)
        assert issubclass(mapped, kind) and issubclass(mapped, FacepaceError)


def test_a_message_is_built_from_the_fields():
    path = Path("/etc/facepace/config.toml")
    assert str(FacepaceError("min_duty must be 0.0..1.0", file=path, line=12)) == \
        "/etc/facepace/config.toml:12: min_duty must be 0.0..1.0"
    assert str(FacepaceError("no such config file", file=path)) == "/etc/facepace/config.toml: no such config file"
    assert str(FacepaceError("the link broke")) == "the link broke"
    several = FacepaceError(problems=[Problem("a", path, 1, ("x",)), Problem("b", path, 3)])
    assert str(several).splitlines() == [f"{path}:1: a", f"{path}:3: b"]
    assert (several.file, several.line, several.key) == (path, 1, ("x",))


def test_a_file_name_cannot_break_the_message_or_drive_the_terminal():
    problem = Problem("title is missing", Path("evil\n\x1b[2J.toml"), 1)
    assert str(problem) == "evil??[2J.toml:1: title is missing"
