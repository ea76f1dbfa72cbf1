"""`facepace sync-serve` and `export`: the device's side of getting sessions off it.

`sync-serve` serves the sync protocol (facepace-sync.service runs it beside the firmware, and
tells the firmware the sync's progress and the host's clock: `device.service.sync_service`);
`export` writes the device's log to a USB drive. The computer's side is `companion.commands`.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from device.settings import paths


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "sync-serve", help="serve the sync protocol on a serial port (device side)",
        description="Serve `facepace sync` on a serial port. On the device facepace-sync.service "
                    "runs this beside the firmware, and tells the firmware the sync's progress "
                    "and the computer's clock through a socket in the runtime folder.")
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
    from device.base.gil import share_the_interpreter_quickly
    from device.log.sessionlog import SessionLog
    from device.service.sync_service import Owner, SyncService, open_channel
    from device.settings.config import load_checked_config
    from device.settings.routines import load_library
    from device.sync.channel import SYNC_SOCKET_NAME, firmware_socket

    share_the_interpreter_quickly()   # its reader thread answers the host while a batch is built
    # The person's changes go on top of these (the firmware's journal names a skipped routine).
    config_path = paths.config_in_use(args.config)
    config = load_checked_config(config_path)
    routines = list(load_library(paths.routines_dir(config_path)).routines)
    port = args.port or config.sync.port
    logging.getLogger().setLevel(logging.INFO)
    channel = open_channel(paths.runtime_dir() / SYNC_SOCKET_NAME, firmware_socket())
    service = SyncService(port, channel, owner=Owner(config, routines, paths.state_dir()),
                          idle_timeout=args.idle_timeout)
    # The firmware may be running a session on this log: leave its open sessions (and a
    # damaged file) to it. Acknowledgements are dated by the host's clock once it is known.
    with SessionLog.open(paths.session_log(), recover=False,
                         wall_time=service.wall_clock.time) as log:
        previous = signal.signal(signal.SIGTERM, lambda *_: service.stop())
        try:
            service.run(log)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            service.close()
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
