"""The board's own serial number: the device's identity that survives a re-flash.

A Raspberry Pi's SoC has a serial number burnt in; the device tree shows it (and older
kernels' /proc/cpuinfo does too). A fresh session log takes it as the device id, and the USB
gadget names itself by the same id (systemd/facepace-gadget.sh), so the computer recognises
the device after the card is written again. Elsewhere (a laptop, a board that reports zeros)
there is none, and the log's own stored id is the identity.
"""

from __future__ import annotations

import re
from pathlib import Path

_SERIAL = re.compile(r"[0-9a-fA-F]{8,32}")
_CPUINFO_SERIAL = re.compile(r"^Serial\s*:\s*(\S+)\s*$", re.MULTILINE)


def board_serial(root: Path = Path("/")) -> str | None:
    """The board's serial number (lowercase hex), or None. `root`: a test's stand-in for /."""
    for read in (_from_device_tree, _from_cpuinfo):
        try:
            serial = read(root)
        except (OSError, UnicodeDecodeError):
            continue
        if serial and _SERIAL.fullmatch(serial) and serial.strip("0"):
            return serial.lower()
    return None


def _from_device_tree(root: Path) -> str:
    return (root / "proc/device-tree/serial-number").read_bytes().decode("ascii").strip("\0\n ")


def _from_cpuinfo(root: Path) -> str | None:
    match = _CPUINFO_SERIAL.search((root / "proc/cpuinfo").read_text("ascii"))
    return match[1] if match else None
