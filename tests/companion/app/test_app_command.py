"""`facepace app` as a person starts it: on the loopback only, at a free port, the address with
its token printed (`--no-browser`), serving over IPv4 and IPv6, and stopped by Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.app_testing import wait_until

pytest.importorskip("uvicorn", reason="the companion page needs the 'app' extra: pip install '.[app]'")

REPO = Path(__file__).resolve().parents[3]


def opener():
    """A client that keeps cookies and does not follow redirects by itself."""
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(), Keep)


def status(client, url: str, **headers) -> int:
    try:
        return client.open(urllib.request.Request(url, headers=headers), timeout=30).status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_page_serves_on_the_loopback_with_its_token_and_stops_on_ctrl_c(tmp_path):
    child = subprocess.Popen([sys.executable, "-m", "device", "app", "--no-browser", "--db", str(tmp_path / "s.db")],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=str(REPO), XDG_DATA_HOME=str(tmp_path)))
    try:
        line = child.stdout.readline()      # printed once the sockets listen
        address = re.fullmatch(r"The facepace page: (http://127\.0\.0\.1:(\d+)/\?token=([\w-]+))\n", line)
        assert address, line
        url, port, token = address.group(1), int(address.group(2)), address.group(3)
        client = opener()
        assert status(client, f"http://127.0.0.1:{port}/history") == 403
        assert status(client, url) == 303                 # the cookie is set
        assert status(client, f"http://127.0.0.1:{port}/history") == 200
        if socket.has_ipv6 and _ipv6_loopback():
            assert status(client, f"http://[::1]:{port}/history?token={token}") == 303
        with pytest.raises(OSError):                       # not on any other address of this computer
            socket.create_connection((_other_address(), port), timeout=2)
    finally:
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    assert child.returncode == 130 and err == "facepace app: stopped\n", err    # 130: stopped by Ctrl-C


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def _other_address() -> str:
    """An address of this computer that is not the loopback (or one nothing listens on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))    # no packet is sent: this only picks a route
            found = probe.getsockname()[0]
        except OSError:
            found = "127.0.0.2"
    return found if not found.startswith("127.0.0.1") else "127.0.0.2"


def test_the_default_browser_is_opened_on_the_address_with_the_token(tmp_path):
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > {opened}.part && mv {opened}.part {opened}\n")
    browser.chmod(0o755)
    child = subprocess.Popen([sys.executable, "-m", "device", "app", "--db", str(tmp_path / "s.db")],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=str(REPO), XDG_DATA_HOME=str(tmp_path),
                                      BROWSER=f"{browser} %s"))
    try:
        said = child.stdout.readline()
        assert said.startswith("Opened the facepace page in your browser"), said
        url = wait_until(lambda: opened.exists() and opened.read_text(), what="the browser to be opened")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{40,}", url) and url in said
        assert status(opener(), url) == 303
    finally:
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=60)
