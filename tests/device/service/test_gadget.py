"""systemd/facepace-gadget.sh against a fake configfs and sysfs in a temporary folder.

What the fake proves: which attributes the script writes and with what values, where the function
is linked, which UDC it binds, where the serial number comes from, that a re-run changes nothing,
and that a Pi without a UDC is left alone. What it cannot prove: that the kernel accepts this
sequence (real configfs creates attribute files on mkdir and refuses some writes while bound).
That needs a Pi Zero 2 W plugged into a computer: see docs/appliance.md, "Checking the gadget".
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "systemd" / "facepace-gadget.sh"
UDC = "3f980000.usb"


@pytest.fixture
def tree(tmp_path):
    """A Pi Zero 2 W as the script sees it: configfs mounted, one UDC, a devicetree serial."""
    (tmp_path / "configfs" / "usb_gadget").mkdir(parents=True)
    (tmp_path / "sys" / "class" / "udc" / UDC).mkdir(parents=True)
    dt = tmp_path / "sys" / "firmware" / "devicetree" / "base"
    dt.mkdir(parents=True)
    (dt / "serial-number").write_bytes(b"00000000abcdef12\0")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text("processor\t: 0\nSerial\t\t: 00000000cafe0001\n")
    (tmp_path / "state").mkdir()
    return tmp_path


def run(tree: Path, **extra_env) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "FACEPACE_CONFIGFS": str(tree / "configfs"),
        "FACEPACE_SYSFS": str(tree / "sys"),
        "FACEPACE_PROCFS": str(tree / "proc"),
        "FACEPACE_STATE_DIR": str(tree / "state"),
        **extra_env,
    }
    result = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result


def gadget(tree: Path) -> Path:
    return tree / "configfs" / "usb_gadget" / "facepace"


def read(path: Path) -> str:
    return path.read_text().rstrip("\n")


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(path.relative_to(root)): (os.readlink(path) if path.is_symlink() else path.read_text(), path.lstat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def test_sets_up_an_acm_gadget_named_facepace_and_binds_the_udc(tree):
    (tree / "state" / "device-id").write_text("fp-7Q2K9\n")
    run(tree)
    g = gadget(tree)
    assert read(g / "idVendor") == "0x1d6b"
    assert read(g / "idProduct") == "0x0104"
    assert read(g / "strings/0x409/product") == "facepace"
    assert read(g / "strings/0x409/manufacturer") == "facepace"
    assert read(g / "strings/0x409/serialnumber") == "fp-7Q2K9"
    assert (g / "functions/acm.usb0").is_dir()
    link = g / "configs/c.1/acm.usb0"
    assert link.is_symlink() and link.resolve() == (g / "functions/acm.usb0").resolve()
    assert read(g / "UDC") == UDC


def test_serial_falls_back_to_the_devicetree_then_cpuinfo(tree):
    run(tree)
    assert read(gadget(tree) / "strings/0x409/serialnumber") == "00000000abcdef12"

    (tree / "sys" / "firmware" / "devicetree" / "base" / "serial-number").unlink()
    (gadget(tree) / "UDC").write_text("\n")  # as if after a reboot: unbound
    run(tree)
    assert read(gadget(tree) / "strings/0x409/serialnumber") == "00000000cafe0001"


def test_running_again_changes_nothing(tree):
    run(tree)
    before = snapshot(tree / "configfs")
    result = run(tree)
    assert snapshot(tree / "configfs") == before
    assert "unchanged" in result.stdout


def test_a_new_device_id_rebinds_with_the_new_serial(tree):
    run(tree)
    (tree / "state" / "device-id").write_text("fp-NEW1\n")
    result = run(tree)
    assert "unbinding" in result.stdout
    assert read(gadget(tree) / "strings/0x409/serialnumber") == "fp-NEW1"
    assert read(gadget(tree) / "UDC") == UDC


def test_serial_number_is_sanitised_for_a_usb_string(tree):
    (tree / "state" / "device-id").write_text("fp 1/2;rm -rf\n")
    run(tree)
    assert read(gadget(tree) / "strings/0x409/serialnumber") == "fp12rm-rf"


def test_no_udc_is_harmless(tree):
    (tree / "sys" / "class" / "udc" / UDC).rmdir()
    result = run(tree)
    assert "no USB device controller" in result.stdout
    assert not gadget(tree).exists()


def test_no_configfs_gadget_support_is_harmless(tree, tmp_path_factory):
    (tree / "configfs" / "usb_gadget").rmdir()
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "modprobe").write_text("#!/bin/sh\necho \"modprobe $*\" >> \"$0.log\"\nexit 1\n")
    (bin_dir / "modprobe").chmod(0o755)
    result = run(tree, PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert (bin_dir / "modprobe.log").read_text() == "modprobe libcomposite\n"
    assert "nothing to do" in result.stdout
    assert not gadget(tree).exists()
