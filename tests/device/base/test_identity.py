"""A stable identity (issue 13): the board's serial number names a fresh log (and so the USB
gadget), read from a temporary root that stands in for the Pi's /proc."""

import dataclasses

from device.base.identity import board_serial
from device.core.assemble import assemble
from device.core.clock import VirtualClock
from device.core.parts import simulated_parts
from device.settings.config import Config
from device.settings.routines import load_library

CPUINFO = "processor\t: 0\nHardware\t: BCM2835\nRevision\t: 902120\nSerial\t\t: 00000000ABCDEF12\nModel\t: Raspberry Pi Zero 2 W\n"


def test_the_device_tree_first_then_cpuinfo_and_none_without_a_real_one(tmp_path):
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/cpuinfo").write_text(CPUINFO)
    assert board_serial(tmp_path) == "00000000abcdef12"
    (tmp_path / "proc/device-tree/serial-number").write_bytes(b"10000000cafe0042\0")
    assert board_serial(tmp_path) == "10000000cafe0042"
    (tmp_path / "proc/device-tree/serial-number").write_bytes(b"0000000000000000\0")   # a board without one
    assert board_serial(tmp_path) == "00000000abcdef12"
    (tmp_path / "proc/cpuinfo").write_text("Serial : ../../etc\n")
    assert board_serial(tmp_path) is None
    assert board_serial(tmp_path / "nowhere") is None


def start(state, serial):
    config = Config()
    parts = dataclasses.replace(simulated_parts(config, VirtualClock(), state_dir=state), board_serial=serial)
    with assemble(config, list(load_library(None).routines), parts) as device:
        return device.recorder.session_log.device_id


def test_a_fresh_log_takes_the_board_s_serial_and_a_log_keeps_its_own(tmp_path):
    assert start(tmp_path / "state", "10000000cafe0042") == "10000000cafe0042"
    assert (tmp_path / "state" / "device-id").read_text() == "10000000cafe0042\n"   # the gadget's serial
    assert start(tmp_path / "state", "10000000beef0001") == "10000000cafe0042"   # never renamed under a host
    (tmp_path / "state" / "sessions.db").unlink()                                 # a re-flashed card
    assert start(tmp_path / "state", "10000000cafe0042") == "10000000cafe0042"
    assert start(tmp_path / "other", None) not in (None, "10000000cafe0042")      # no board: its own id
