"""Tell systemd how the firmware is doing: the sd_notify protocol (see sd_notify(3)).

The protocol is one datagram of `KEY=VALUE` lines to the Unix socket named by `$NOTIFY_SOCKET`
(a leading "@" means Linux's abstract namespace). It is small and stable, so it is written here
rather than taken from PyPI: `systemd-python` needs compiling against libsystemd on the Pi, and the
pure-Python `sdnotify` package (last release 2017) has no watchdog-interval helper and hides errors.

Off systemd (`NOTIFY_SOCKET` unset: the simulator, tests, a developer's shell) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends READY/WATCHDOG/STOPPING/STATUS to systemd; a no-op when `address` is None."""

    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self.address = address
        self._watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self._ready_sent = False
        # The display thread and the main loop both call in (READY comes from whichever is first).
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """Read `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` as systemd sets them."""
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET") or None
        watchdog_usec = None
        watchdog_pid = environ.get("WATCHDOG_PID")
        # WATCHDOG_PID names the process systemd expects pings from; a child must not take it over.
        if not watchdog_pid or watchdog_pid == str(os.getpid()):
            try:
                watchdog_usec = int(environ.get("WATCHDOG_USEC", "")) or None
            except ValueError:
                watchdog_usec = None
        return cls(address, watchdog_usec=watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half systemd's timeout), or None if no watchdog is set."""
        if not self.enabled or not self._watchdog_usec:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self) -> None:
        """READY=1, once: systemd treats the service as started from then on."""
        with self._lock:
            if self._ready_sent:
                return
            self._ready_sent = True
        self.notify("READY=1")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, text: str) -> None:
        """One line shown by `systemctl status facepace`."""
        self.notify("STATUS=" + " ".join(text.splitlines()))

    def notify(self, *fields: str) -> None:
        if not self.enabled:
            return
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            with self._lock:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # MSG_DONTWAIT: a full socket queue must never block the main loop.
                self._socket.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, address)
        except OSError as error:
            # Never let a notification failure stop the device: if systemd is really gone the
            # watchdog (or the missing READY) is what reports it.
            log.warning("sd_notify to %s failed: %s", self.address, error)

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
