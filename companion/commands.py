"""`facepace sync`, `sync-serve`, `history`, `report` and `export`.

Computer side: `sync` pulls the device's sessions over USB serial into a database in the
user's data folder (`--db` to choose); `history` and `report` read that database.
Device side: `sync-serve` serves the protocol alone (the firmware runs the same server
in a thread); `export` writes the device's log to a USB drive.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from pathlib import Path

from device.cli import log as cli_log
from device.settings import paths
from device.log import session_columns
from device.base.errors import FacepaceError
from device.settings.paths import config_in_use

SYNC_TIMEOUT = 5.0


def register(subparsers) -> None:
    from companion.hostdb import default_path

    db_help = f"the computer's copy of the synced sessions (default: {default_path()})"
    sync = subparsers.add_parser(
        "sync", help="copy the device's sessions to this computer over USB",
        description="Copy the sessions the device recorded since the last sync into this "
                    "computer's database, and set the device's clock from this computer's. "
                    "Resumable: a cable pulled out never loses or doubles a session.")
    sync.add_argument("--port", metavar="PATH", help="serial port (default: find the facepace device)")
    sync.add_argument("--db", type=Path, metavar="PATH", help=db_help)
    sync.add_argument("--timeout", type=positive_seconds, default=SYNC_TIMEOUT, metavar="SECONDS",
                      help=f"give up when the device does not answer (default {SYNC_TIMEOUT:g})")
    sync.set_defaults(func=run_sync)

    serve = subparsers.add_parser(
        "sync-serve", help="serve the sync protocol on a serial port (device side)",
        description="Serve `facepace sync` on a serial port without the firmware (which serves "
                    "it itself while it runs).")
    serve.add_argument("--port", metavar="PATH",
                       help="serial port (default: [sync] port of the config, /dev/ttyGS0)")
    serve.add_argument("--idle-timeout", type=positive_seconds, default=10.0, metavar="SECONDS",
                       help="drop a host that goes silent mid-sync (default 10)")
    serve.set_defaults(func=run_sync_serve)

    history = subparsers.add_parser(
        "history", help="the sessions synced to this computer",
        description=cli_log.paragraphs("The sessions synced to this computer, newest first, from "
                                       "every device (--device to choose one).", cli_log.ESTIMATED_NOTE),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    form = history.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="every field, with zones, as JSON")
    form.add_argument("--csv", action="store_true", help="every field, one row per zone, as CSV")
    history.add_argument("--db", type=Path, metavar="PATH", help=db_help)
    history.add_argument("--device", metavar="ID", help="only this device's sessions")
    history.set_defaults(func=run_history)

    report = subparsers.add_parser(
        "report", help="a picture of the synced history",
        description="Draw the synced history as a picture: streak, sessions per week, "
                    "minutes per day and time per zone.")
    report.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="the picture to write: FILE.png or FILE.jpg")
    report.add_argument("--db", type=Path, metavar="PATH", help=db_help)
    report.add_argument("--device", metavar="ID", help="only this device's sessions")
    report.set_defaults(func=run_report)

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


def run_sync(args) -> int:
    from companion import sync_client as host
    from companion.hostdb import HostDb

    port_name = args.port or host.find_port()
    with HostDb.open(args.db) as db:
        link = host.open_device(port_name, timeout=args.timeout)
        try:
            result = host.sync(link, db, timeout=args.timeout, progress=host.progress_bar())
        finally:
            link.close()
    print(result.summary())
    return 0


def run_sync_serve(args) -> int:
    from device.settings.config import load_checked_config
    from device.log.sessionlog import SessionLog
    from device.sync.server import SyncServer

    port = args.port or load_checked_config(config_in_use(args.config)).sync.port
    logging.getLogger().setLevel(logging.INFO)
    # The firmware may be running a session on this log: leave its open sessions (and a
    # damaged file) to it.
    with SessionLog.open(paths.state_dir() / cli_log.DB_NAME, recover=False) as log:
        server = SyncServer(port, log, idle_timeout=args.idle_timeout,
                            on_status=lambda status: status.text and logging.info("%s", status.text))
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
    return 0


def _host_rows(args) -> list:
    """(record, date quality) rows from the computer's database, newest first."""
    from companion.hostdb import HostDb

    with HostDb.open(args.db) as db:
        known = db.devices()
        if args.device and args.device not in known:
            raise FacepaceError(f"no device '{args.device}' in {db.path}; " + (
                "the devices synced here: " + ", ".join(known) if known else
                "no device has been synced here yet: run 'facepace sync' with the device plugged in"))
        return db.sessions(device_id=args.device)


def run_history(args) -> int:
    rows = _host_rows(args)
    out = sys.stdout
    if args.json:
        json.dump([session_columns.session_fields(row) for row in rows], out, indent=1)
        out.write("\n")
    elif args.csv:
        session_columns.write_csv(rows, out)
    elif not rows:
        print("No synced sessions yet: run 'facepace sync' with the device plugged in.", file=out)
    else:
        out.write(cli_log.format_table([record for record, _ in rows]))
    return 0


def run_report(args) -> int:
    from device.log import report

    report.format_for(args.out)   # before any work: a name we cannot write is a usage error
    sessions = [record for record, _ in _host_rows(args)]
    image = report.render(sessions, now_wall=datetime.now().timestamp())
    try:
        report.save(image, args.out)
    except OSError as error:
        raise FacepaceError(f"cannot write {args.out}: {error}") from None
    print(f"Wrote {args.out} ({len(sessions)} sessions)")
    return 0


def run_export(args) -> int:
    from device.service import export

    written = export.export_log(paths.state_dir() / cli_log.DB_NAME, args.to)
    if args.porcelain:   # read by systemd/facepace-export.sh for the screen
        print(f"sessions={written.sessions}\nfolder={written.folder}")
    else:
        print(f"Exported {written.sessions} sessions to {written.folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m companion.commands sync-serve ...` is the `facepace` command."""
    from device.cli import main as cli

    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
