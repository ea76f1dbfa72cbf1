"""The unit files under systemd/: `systemd-analyze verify`, the security score, and the udev rule.

`verify` checks that every Exec*= binary exists, which /opt/facepace/... does not on a build
machine. So the units are verified inside a temporary root (`--root`): our unit files, executable
stubs for our own /opt/facepace programs, stubs for system programs only where the host has them,
and a copy of the host's system units (for sysinit.target and friends). Any output fails the test,
because verify reports unknown keys and bad values as warnings with exit status 0.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[1] / "systemd"
UNITS = sorted(p.name for p in SYSTEMD_DIR.iterdir() if p.suffix in (".service", ".path"))
MAX_EXPOSURE = 1.5

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (Debian package: systemd)"
)


def systemd_version() -> int:
    output = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"systemd (\d+)", output)
    return int(match.group(1)) if match else 0


def host_unit_dir() -> Path:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "sysinit.target").exists():
            return candidate.resolve()
    pytest.skip("no systemd system units on this machine (Debian package: systemd)")


def exec_paths(unit_text: str) -> set[str]:
    """Absolute programs named by Exec*= lines (after systemd's -@:+! prefixes)."""
    paths = set()
    for match in re.finditer(r"^Exec\w+=[-@:+!]*(/\S+)", unit_text, re.MULTILINE):
        paths.add(match.group(1))
    return paths


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("root")
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    host_units = host_unit_dir()
    shutil.copytree(host_units, root / host_units.relative_to("/"), symlinks=True)
    # Debian's unit symlinks are absolute (/lib/systemd/system/...): make /lib resolve inside the root.
    if not (root / "lib").exists():
        (root / "lib").symlink_to("usr/lib")
    for name in UNITS:
        text = (SYSTEMD_DIR / name).read_text()
        (units / name).write_text(text)
        for program in exec_paths(text):
            if program.startswith("/opt/facepace/") or Path(program).exists():
                stub = root / program.lstrip("/")
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text("#!/bin/sh\n")
                stub.chmod(0o755)
    return root


@needs_systemd
@pytest.mark.parametrize("unit", [*UNITS, "facepace-export@sda1.service"])
def test_systemd_analyze_verify(verify_root, unit):
    result = subprocess.run(["systemd-analyze", "verify", f"--root={verify_root}", unit],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


@needs_systemd
def test_security_exposure_is_at_most_1_5():
    if systemd_version() < 250:
        pytest.skip(f"systemd-analyze security --offline needs systemd 250+, this is {systemd_version()}")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(SYSTEMD_DIR / "facepace.service")],
        capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for facepace\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def unit_settings(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (SYSTEMD_DIR / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_sandbox_still_lets_the_firmware_reach_its_devices():
    """A tighter score is easy by breaking the device: these must stay."""
    service = unit_settings("facepace.service")
    assert service["DevicePolicy"] == ["closed"]
    assert set(service["DeviceAllow"]) == {"char-gpiochip rw", "char-i2c rw", "char-ttyGS rw"}
    assert "PrivateDevices" not in service
    assert service["SupplementaryGroups"] == ["gpio i2c dialout"]
    assert service["User"] == ["facepace"] and service["Type"] == ["notify"]
    # lgpio needs a writable working directory; the poweroff request lives in the same place.
    assert service["RuntimeDirectory"] == ["facepace"] and service["WorkingDirectory"] == ["%t/facepace"]
    assert unit_settings("facepace-poweroff.path")["PathExists"] == ["/run/facepace/poweroff"]


def test_udev_rules_start_the_export_and_gadget_units():
    rules = [line for line in (SYSTEMD_DIR / "90-facepace.rules").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    parsed = [dict(re.findall(r'([A-Z_]+(?:\{[A-Z_]+\})?)\s*[!+:]?==?\s*"([^"]*)"', rule)) for rule in rules]
    export, gadget = parsed
    assert export["SUBSYSTEM"] == "block" and export["ENV{ID_BUS}"] == "usb"
    assert export["ENV{ID_FS_TYPE}"] == "vfat|exfat"
    assert export["ENV{SYSTEMD_WANTS}"] == "facepace-export@%k.service" and export["TAG"] == "systemd"
    assert gadget["SUBSYSTEM"] == "udc" and gadget["ENV{SYSTEMD_WANTS}"] == "facepace-gadget.service"
    for wanted in ("facepace-export@.service", "facepace-gadget.service"):
        assert (SYSTEMD_DIR / wanted).exists()


@pytest.mark.skipif(shutil.which("udevadm") is None, reason="udevadm not installed (Debian package: udev)")
def test_udevadm_verify_when_available():
    help_text = subprocess.run(["udevadm", "--help"], capture_output=True, text=True).stdout
    if " verify " not in help_text:
        pytest.skip("udevadm verify needs systemd 254+ (Debian 12 has 252)")
    result = subprocess.run(["udevadm", "verify", str(SYSTEMD_DIR / "90-facepace.rules")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# prctl(PR_SET_MDWE=65, PR_MDWE_REFUSE_EXEC_GAIN=1)
FIRMWARE_STACK = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    raise SystemExit(99)  # kernel without PR_SET_MDWE (Linux < 6.3)
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    raise SystemExit("W+X memory was still allowed: the check below would prove nothing")
except PermissionError:
    pass
from PIL import Image, ImageDraw, ImageFont
image = Image.new("1", (128, 64))
ImageDraw.Draw(image).text((0, 0), "Cheeks 1:23", font=ImageFont.load_default(), fill=1)
from gpiozero import Button, PWMOutputDevice
from gpiozero.pins.mock import MockFactory, MockPWMPin
factory = MockFactory(pin_class=MockPWMPin)
Button(17, pin_factory=factory, bounce_time=0.02)
PWMOutputDevice(18, pin_factory=factory).value = 0.5
import adafruit_ssd1306, serial, sqlite3
sqlite3.connect(":memory:").execute("create table t (x)")
assert ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)() == 7  # libffi closures
import device.cli
"""


def test_python_stack_runs_with_memory_deny_write_execute():
    """MemoryDenyWriteExecute=yes kills a process that maps W+X memory. The kernel's PR_SET_MDWE
    (same rule: no W+X mappings, no making memory executable later) lets us check the firmware's
    libraries here. lgpio and blinka's Pi back-ends can only be checked on a Pi."""
    result = subprocess.run([sys.executable, "-c", FIRMWARE_STACK], capture_output=True, text=True,
                            timeout=120, cwd=SYSTEMD_DIR.parent)
    if result.returncode == 99:
        pytest.skip("kernel has no PR_SET_MDWE (needs Linux 6.3+)")
    assert result.returncode == 0, result.stderr
