"""The unit files under systemd/: `systemd-analyze verify`, the security score, and the udev rule.

`verify` checks that every Exec*= binary exists, which /opt/facepace/... does not on a build
machine. So the units are verified inside a temporary root (`--root`): our unit files, executable
stubs for our own /opt/facepace programs, stubs for system programs only where the host has them,
and a copy of the host's system units (for sysinit.target and friends). Any output fails the test,
because verify reports unknown keys and bad values as warnings with exit status 0.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[3] / "systemd"
UNITS = sorted(p.name for p in SYSTEMD_DIR.iterdir() if p.suffix in (".service", ".path"))
MAX_EXPOSURE = 0.6  # what the unit scores today: a change must not make it worse

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
@pytest.mark.parametrize("unit", ["facepace.service", "facepace-sync.service"])
def test_security_exposure_is_no_worse_than_today(unit):
    if systemd_version() < 250:
        pytest.skip(f"systemd-analyze security --offline needs systemd 250+, this is {systemd_version()}")
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(SYSTEMD_DIR / unit)],
        capture_output=True, text=True, timeout=60)
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", result.stdout)
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
    assert set(service["DeviceAllow"]) == {"char-gpiochip rw", "char-i2c rw"}
    assert "PrivateDevices" not in service
    assert service["SupplementaryGroups"] == ["gpio i2c"]
    assert service["User"] == ["facepace"] and service["Type"] == ["notify"]
    # lgpio needs a writable working directory; the poweroff request lives in the same place.
    # (The root ExecStopPost= must not run there: see the planted-package test below.)
    assert service["RuntimeDirectory"] == ["facepace"] and service["WorkingDirectory"] == ["%t/facepace"]
    assert unit_settings("facepace-poweroff.path")["PathExists"] == ["/run/facepace/poweroff"]


SANDBOX = ("ProtectSystem", "PrivateMounts", "ProtectHome", "PrivateTmp", "ProtectProc", "PrivateNetwork",
           "IPAddressDeny", "RestrictAddressFamilies", "CapabilityBoundingSet", "AmbientCapabilities",
           "NoNewPrivileges", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
           "ProtectControlGroups", "ProtectClock", "ProtectHostname", "RestrictNamespaces", "RestrictRealtime",
           "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute", "RemoveIPC", "KeyringMode",
           "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber", "DevicePolicy", "UMask",
           "User", "Group", "StateDirectory", "StateDirectoryMode")


def test_the_sync_service_has_the_firmwares_sandbox_the_serial_port_and_less_cpu():
    firmware, sync = unit_settings("facepace.service"), unit_settings("facepace-sync.service")
    assert {key: sync.get(key) for key in SANDBOX} == {key: firmware.get(key) for key in SANDBOX}
    assert sync["DeviceAllow"] == ["char-ttyGS rw"] and sync["SupplementaryGroups"] == ["dialout"]
    assert sync["ExecStart"] == ["/opt/facepace/venv/bin/facepace sync-serve"]
    assert sync["Restart"] == ["on-failure"]
    assert int(sync["CPUWeight"][0]) < int(firmware.get("CPUWeight", ["100"])[0])
    assert int(sync["Nice"][0]) > int(firmware.get("Nice", ["0"])[0])
    # Each unit's runtime folder is its own: systemd removes it when that unit stops.
    assert sync["RuntimeDirectory"] == ["facepace-sync"] and firmware["RuntimeDirectory"] == ["facepace"]
    assert sync["WantedBy"] == ["multi-user.target"]


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
import device.cli.main
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


# -- the root ExecStopPost= hook --------------------------------------------------------------

VENV_PYTHON = "/opt/facepace/venv/bin/python"
PLANTED = """
from pathlib import Path
Path({marker!r}).write_text("planted code ran")
"""


def stop_post_command() -> list[str]:
    """The unit's ExecStopPost= command line as systemd runs it (prefixes dropped), with this
    machine's Python standing in for /opt/facepace/venv's."""
    (line,) = unit_settings("facepace.service")["ExecStopPost"]
    argv = shlex.split(line.lstrip("-@:+!"))
    assert VENV_PYTHON in argv, argv
    return [sys.executable if word == VENV_PYTHON else word for word in argv]


def plant_device_package(folder: Path, marker: Path) -> None:
    package = folder / "device" / "service"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "motor_off.py").write_text(PLANTED.format(marker=str(marker)))


def run_in(folder: Path, argv: list[str]) -> subprocess.CompletedProcess:
    # No pinctrl on PATH: the real device.service.motor_off says so and does nothing.
    env = dict(os.environ, PATH="/usr/bin:/bin", PYTHONPATH="")
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=60)


def test_the_root_stop_hook_never_imports_a_package_the_service_user_planted(tmp_path):
    """ExecStopPost= runs as root ("+") in the service's WorkingDirectory=, which the facepace user
    owns. `python -m` would import a `device/` package planted there."""
    working_directory = tmp_path / "run-facepace"
    working_directory.mkdir()
    marker = tmp_path / "marker"
    plant_device_package(working_directory, marker)
    # The plant works against a plain `python -m` (so the test below can fail) ...
    run_in(working_directory, [sys.executable, "-m", "device.service.motor_off"])
    assert marker.exists(), "the planted package was not imported by plain python -m: this test proves nothing"
    marker.unlink()
    # ... and not against the unit's own command line,
    command = stop_post_command()
    result = run_in(working_directory, command)
    assert not marker.exists(), f"{shlex.join(command)} ran the planted package"
    assert result.returncode == 0 and "no pinctrl here" in result.stderr, result.stderr
    # ... nor against its Python part alone, in case the change of folder is ever dropped.
    python_part = command[command.index(sys.executable):]
    run_in(working_directory, python_part)
    assert not marker.exists(), f"{shlex.join(python_part)} ran the planted package"


def test_the_root_stop_hook_runs_in_a_root_owned_folder():
    command = stop_post_command()
    chdir = [word.split("=", 1)[1] for word in command if word.startswith("--chdir=")]
    assert command[0] == "/usr/bin/env" and len(chdir) == 1, command
    folder = Path(chdir[0])
    assert folder.is_absolute() and folder.stat().st_uid == 0 and not folder.stat().st_mode & 0o022


# -- the clock-sync check under the unit's own seccomp filter -------------------------------

def syscall_groups() -> dict[str, list[str]]:
    """`systemd-analyze syscall-filter`: every @group and what it lists (calls and @groups)."""
    output = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True,
                            text=True, timeout=60, check=True).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif not line.startswith("    "):
            current = None
        elif current is not None and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def unit_syscall_allow_list(settings: dict[str, list[str]]) -> set[str]:
    """The system calls facepace.service allows, resolved as systemd does: the first
    SystemCallFilter= line is an allow list (with @default added), each later line adds to it,
    or takes away when it starts with "~"; ProtectClock=yes takes away @clock."""
    groups = syscall_groups()

    def resolve(name: str) -> set[str]:
        if not name.startswith("@"):
            return {name}
        return set().union(*(resolve(member) for member in groups[name]))

    lines = settings["SystemCallFilter"]
    assert not lines[0].startswith("~"), "the first SystemCallFilter= line must be an allow list"
    allowed = resolve("@default")
    for line in lines:
        deny = line.startswith("~")
        names = set().union(*(resolve(name) for name in line.lstrip("~").split()))
        allowed = allowed - names if deny else allowed | names
    if settings.get("ProtectClock") == ["yes"]:
        allowed -= resolve("@clock")
    return allowed


UNDER_THE_FILTER = """
import ctypes, errno, json, sys
from pathlib import Path
import pyseccomp
from device.log.sessionlog import kernel_clock_synced
allowed, default_errno, flag = json.loads(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
rules = pyseccomp.SyscallFilter(pyseccomp.ERRNO(default_errno))
for name in allowed:
    try:
        rules.add_rule(pyseccomp.ALLOW, name)
    except (ValueError, OSError):   # not a system call on this architecture
        pass
rules.load()
libc = ctypes.CDLL(None, use_errno=True)
kernel_read = libc.adjtimex(ctypes.create_string_buffer(512))
print(json.dumps({"synced": kernel_clock_synced(flag),
                  "kernel_read_errno": ctypes.get_errno() if kernel_read < 0 else 0}))
"""


def clock_check_under_the_unit(flag: Path) -> dict:
    try:
        import pyseccomp
        pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    except (ImportError, RuntimeError, OSError) as error:
        pytest.skip(f"no libseccomp binding ({error}); `make .venv/.installed` installs pyseccomp, "
                    f"which needs libseccomp2 (Debian package)")
    settings = unit_settings("facepace.service")
    assert settings["SystemCallErrorNumber"] == ["EPERM"]
    allowed = sorted(unit_syscall_allow_list(settings))
    assert {"read", "write", "openat", "mmap"} <= set(allowed), "the groups were not resolved"
    result = subprocess.run(
        [sys.executable, "-c", UNDER_THE_FILTER, json.dumps(allowed), str(errno.EPERM), str(flag)],
        capture_output=True, text=True, timeout=60, cwd=SYSTEMD_DIR.parent)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@needs_systemd
def test_the_clock_sync_check_works_under_the_units_seccomp_filter(tmp_path):
    """Sessions are recorded "wall clock trusted" only if this check can answer inside the sandbox.
    PID 1 here need not be systemd, so the filter is loaded with libseccomp, built from the unit's
    SystemCallFilter= lines as systemd builds it."""
    flag = tmp_path / "synchronized"
    flag.touch()     # systemd-timesyncd has synchronised the clock this boot
    seen = clock_check_under_the_unit(flag)
    # ProtectClock=yes refuses even the read-only kernel call: the proof that the filter is on.
    assert seen["kernel_read_errno"] == errno.EPERM
    assert seen["synced"] is True
    flag.unlink()    # never synchronised
    assert clock_check_under_the_unit(flag)["synced"] is False
