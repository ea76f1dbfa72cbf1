"""`facepace sync-serve` and `export`: the device's side of getting sessions off it.

`sync-serve` serves the sync protocol alone (the firmware runs the same server in a thread);
`export` writes the device's log to a USB drive. The computer's side is `companion.commands`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from device.settings import paths
from device.settings.paths import config_in_use


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "sync-serve", help="serve the sync protocol on a serial port (device side)",
        description="Serve `facepace sync` on a serial port without the firmware (which serves "
                    "it itself while it runs).")
    serve.add_argument("--port", metavar="PATH",
                       help="serial port (default: [sync] port of the config, /dev/ttyGS0)")
    serve.add_argument("--idle-timeout", type=positive_seconds, default=10.0, metavar="SECONDS",
                       help="drop a host that goes silent mid-sync (default 10)")
    serve.set_defaults(func=run_sync_serve)

    export = subparsers.add_parser(
        "export", help="write the device's log to a folder (USB drive)",
        description="Write the device's log to DIR/facepace/DEVICE-ID/: sessions.csv, "
                    "sessions.jsonl and report.png, each file complete or not there at all. "
                    "The device runs this when a USB drive is plugged in.")
    export.add_argument("--to", type=Path, required=True, metavar="DIR", help="where the drive is mounted")
    export.add_argument("--porcelain", action="store_true",
                        help="print key=value lines for scripts (sessions=N, folder=PATH) instead")
    export.set_defaults(func=run_export)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def run_sync_serve(args) -> int:
    from device.settings.config import load_checked_config
    from device.log.sessionlog import SessionLog
    from device.sync.server import SyncServer

    port = args.port or load_checked_config(config_in_use(args.config)).sync.port
    logging.getLogger().setLevel(logging.INFO)
    # The firmware may be running a session on this log: leave its open sessions (and a
    # damaged file) to it.
    with SessionLog.open(paths.session_log(), recover=False) as log:
        server = SyncServer(port, log, idle_timeout=args.idle_timeout,
                            on_status=lambda status: status.text and logging.info("%s", status.text))
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
    return 0


def run_export(args) -> int:
    from device.service import export

    # First, and whether or not there is a log: a new device has routines to take, no sessions.
    routines = export.take_routines(args.to, paths.stick_inbox())
    written = export.export_log(paths.session_log(), args.to)
    if args.porcelain:   # read by systemd/facepace-export.sh for the screen
        print(f"sessions={written.sessions}\nfolder={written.folder}" + (f"\nroutines={routines}" if routines else ""))
    else:
        print(f"Exported {written.sessions} sessions to {written.folder}")
        if routines:
            print(f"{routines} routines from the drive: accept each on the device")
    return 0
