"""The computer's side of sync protocol 3: read and change the person's settings and routines.

    link = Link(open_device(port))
    device = connect(link)                     # a version-2 device: read-only, see `changeable`
    view = read_owner(device)                  # settings in use, routines and their hashes
    final = propose(device, PutRoutine("evening", data), on_state=say)   # the person decides
    bye(device)

Every reply is checked (`device.sync.ownerproto`) before anything is printed or written.
A change is staged, then the computer asks how it stands every `poll` seconds until the
person has answered on the device (or the device gave up waiting); every request is safe
to repeat, so a reply lost to noise is asked for again.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Callable

from companion.sync_client import Link, SyncError, hello
from device.settings.owner import MAX_ROUTINE_BYTES, Change, PutRoutine
from device.sync import ownerproto
from device.sync import protocol as p
from device.sync.ownerproto import WAITING, ChangeState, OwnerView

POLL = 0.2   # seconds between DECISION requests while the person decides


class NeedsFirmwareUpdate(SyncError):
    """The device's firmware speaks an older protocol: it syncs, but takes no changes."""


@dataclass(frozen=True)
class Device:
    link: Link
    welcome: p.Welcome

    @property
    def changeable(self) -> bool:
        return self.welcome.protocol >= 3


def connect(link: Link, host_id: str | None = None) -> Device:
    """HELLO; `NeedsFirmwareUpdate` comes only when a change is asked of an older device."""
    try:
        return Device(link, hello(link, host_id or f"settings@{socket.gethostname()}"[:64]))
    except p.ProtocolError as error:
        raise SyncError(f"the device on {getattr(link.port, 'port', None) or 'the serial port'}: {error}") from None


def require_changeable(device: Device) -> None:
    if not device.changeable:
        raise NeedsFirmwareUpdate(
            f"device {device.welcome.device_id} runs firmware {device.welcome.firmware}, which speaks sync"
            f" protocol {device.welcome.protocol}: changing its settings and routines needs a firmware"
            " update ('facepace sync' still copies its sessions)")


def read_owner(device: Device) -> OwnerView:
    require_changeable(device)
    return _checked(device, lambda: ownerproto.decode_owner(device.link.request(p.READ_OWNER, p.OWNER)))


def read_routine(device: Device, name: str) -> bytes:
    require_changeable(device)
    return _checked(device, lambda: ownerproto.decode_routine(
        device.link.request(p.READ_ROUTINE, p.ROUTINE, name=name), name))


def stage(device: Device, change: Change) -> ChangeState:
    require_changeable(device)
    if isinstance(change, PutRoutine) and len(change.toml) > MAX_ROUTINE_BYTES:
        # The device would not even read the request (and the link would re-send it in vain).
        raise SyncError(f"{change.name}.toml is {len(change.toml)} bytes: the device takes routines of at"
                        f" most {MAX_ROUTINE_BYTES // 1024} KiB")
    return _checked(device, lambda: ownerproto.decode_change(
        device.link.request(p.STAGE, p.CHANGE, **ownerproto.stage_request(change))))


def decision(device: Device, change_id: int) -> ChangeState:
    return _checked(device, lambda: ownerproto.decode_change(
        device.link.request(p.DECISION, p.CHANGE, change_id=change_id), change_id))


def propose(device: Device, change: Change, *, on_state: Callable[[ChangeState], None] | None = None,
            poll: float = POLL, wait: Callable[[float], None] = time.sleep) -> ChangeState:
    """Stage `change` and follow it until it is settled; `on_state` hears every new state
    (asking: "press the button on the device", busy: "in a session")."""
    state = stage(device, change)
    seen = None
    while True:
        if on_state is not None and state.state != seen:
            on_state(state)
        seen = state.state
        if state.state not in WAITING:
            return state
        wait(poll)
        state = decision(device, state.change_id)


def bye(device: Device) -> None:
    device.link.request(p.BYE, p.BYE)


def _checked(device: Device, read):
    try:
        return read()
    except p.ProtocolError as error:
        raise SyncError(f"device {device.welcome.device_id}: {error}") from None
