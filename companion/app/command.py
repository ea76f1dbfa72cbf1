"""`facepace app`: serve the companion page on the loopback and open the browser on it.

Sockets are bound here, before the server starts, so the port is known (and free) when the
browser is sent to it; connections wait in the listen queue until uvicorn serves them.
"""

from __future__ import annotations

import socket
import sys
import webbrowser
from pathlib import Path

import platformdirs

from device.base.errors import FacepaceError


def register(subparsers) -> None:
    from companion.hostdb import default_path

    app = subparsers.add_parser(
        "app", help="the companion page in your browser",
        description="Serve the companion page on this computer only (127.0.0.1 and ::1, a free port) "
                    "and open the default browser on it. The address holds a token that changes at "
                    "each start. Ctrl-C stops it.")
    app.add_argument("--no-browser", action="store_true", help="print the address instead of opening it")
    app.add_argument("--db", type=Path, metavar="PATH",
                     help=f"the computer's copy of the synced sessions (default: {default_path()})")
    app.add_argument("--port", metavar="PATH", help="the device's serial port (default: find it by its USB name)")
    app.set_defaults(func=run_app)


def loopback_sockets() -> list[socket.socket]:
    """A listening socket on 127.0.0.1 at a free port, and on ::1 at the same port when this
    computer has IPv6 (and the port is free there too)."""
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    v4.bind(("127.0.0.1", 0))
    found = [v4]
    if socket.has_ipv6:
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::1", v4.getsockname()[1]))
            found.append(v6)
        except OSError:
            v6.close()
    for sock in found:
        sock.listen(64)
        sock.setblocking(False)
    return found


# Longer than a browser keeps an idle connection: else the server may close one just as the
# browser sends a request on it, and a POST (an edit's preview) fails with a network error.
KEEP_ALIVE = 600


def make_server(app):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_keep_alive=KEEP_ALIVE))


def run_app(args) -> int:
    try:
        import uvicorn  # noqa: F401  (the extra's server: said here, before any work)

        from companion.app.device_desk import DeviceDesk
        from companion.app.guard import Secrets
        from companion.app.web import AppConfig, create_app
    except ImportError as error:
        raise FacepaceError(f"the companion page needs the 'app' extra ({error.name} is missing):"
                            " pip install 'facepace[app]'") from None
    sockets = loopback_sockets()
    keys = Secrets(port=sockets[0].getsockname()[1])
    routines = Path(platformdirs.user_data_dir("facepace", appauthor=False)) / "routines"
    app = create_app(AppConfig(keys=keys, db_path=args.db, routines_dir=routines,
                               desk=DeviceDesk(db_path=args.db, port=args.port)))
    address = keys.url()
    if args.no_browser or not webbrowser.open(address):
        print(f"The facepace page: {address}")
    else:
        print(f"Opened the facepace page in your browser ({address}).")
    print("Ctrl-C stops it.", flush=True)
    server = make_server(app)
    try:
        server.run(sockets=sockets)   # until Ctrl-C, which uvicorn raises again once it has stopped
    finally:
        for sock in sockets:
            sock.close()
        print("facepace app: stopped", file=sys.stderr)
    return 0
