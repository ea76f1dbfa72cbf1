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

from device import cli_log, paths

SYNC_TIMEOUT = 5.0


def register(subparsers) -> None:
    sync = subparsers.add_parser("sync", help="copy the device's sessions to this computer over USB")
    sync.add_argument("--port", metavar="PATH", help="serial port (default: find the facepace device)")
    sync.add_argument("--db", type=Path, metavar="PATH", help="sync database (default: user data folder)")
    sync.add_argument("--timeout", type=float, default=SYNC_TIMEOUT, metavar="SECONDS",
                      help=f"give up when the device does not answer (default {SYNC_TIMEOUT:g})")
    sync.set_defaults(func=run_sync)

    serve = subparsers.add_parser("sync-serve", help="serve the sync protocol on a serial port (device side)")
    serve.add_argument("--port", required=True, metavar="PATH", help="serial port, e.g. /dev/ttyGS0")
    serve.add_argument("--idle-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="drop a host that goes silent mid-sync (default 10)")
    serve.set_defaults(func=run_sync_serve)

    history = subparsers.add_parser("history", help="sessions synced to this computer")
    form = history.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="every field, with zones, as JSON")
    form.add_argument("--csv", action="store_true", help="every field, one row per zone, as CSV")
    history.add_argument("--db", type=Path, metavar="PATH", help="sync database")
    history.add_argument("--device", metavar="ID", help="only this device's sessions")
    history.set_defaults(func=run_history)

    report = subparsers.add_parser("report", help="a picture of the synced history")
    report.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="the picture to write: FILE.png or FILE.jpg")
    report.add_argument("--db", type=Path, metavar="PATH", help="sync database")
    report.add_argument("--device", metavar="ID", help="only this device's sessions")
    report.set_defaults(func=run_report)

    export = subparsers.add_parser("export", help="write the device's log to a folder (USB drive)")
    export.add_argument("--to", type=Path, required=True, metavar="DIR", help="where the drive is mounted")
    export.set_defaults(func=run_export)


def _fail(message: str) -> int:
    print(f"facepace: {message}", file=sys.stderr)
    return 1


def run_sync(args) -> int:
    from device.sync import host
    from device.sync.hostdb import HostDb, HostDbError

    try:
        port_name = args.port or host.find_port()
        with HostDb.open(args.db) as db:
            link = host.open_device(port_name, timeout=args.timeout)
            try:
                result = host.sync(link, db, timeout=args.timeout, progress=host.progress_bar())
            finally:
                link.close()
    except (host.SyncError, HostDbError) as error:
        return _fail(str(error))
    print(result.summary())
    return 0


def run_sync_serve(args) -> int:
    from device.sessionlog import SessionLog
    from device.sync.server import SyncServer

    logging.getLogger().setLevel(logging.INFO)
    # The firmware may be running a session on this log: leave its open sessions (and a
    # damaged file) to it.
    with SessionLog.open(paths.state_dir() / cli_log.DB_NAME, recover=False) as log:
        server = SyncServer(args.port, log, idle_timeout=args.idle_timeout,
                            on_status=lambda status: status.text and logging.info("%s", status.text))
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
    return 0


def _host_sessions(args):
    from device.sync.hostdb import HostDb

    with HostDb.open(args.db) as db:
        return db.sessions(device_id=args.device)


def run_history(args) -> int:
    from device.sync.hostdb import HostDbError

    try:
        pairs = _host_sessions(args)
    except HostDbError as error:
        return _fail(str(error))
    out = sys.stdout
    if args.json:
        items = [dict(cli_log.session_fields(record), date_quality=quality) for record, quality in pairs]
        json.dump(items, out, indent=1)
        out.write("\n")
    elif args.csv:
        cli_log.write_csv([record for record, _ in pairs], out,
                          extra={"date_quality": [quality for _, quality in pairs]})
    elif not pairs:
        print("No synced sessions yet: run 'facepace sync' with the device plugged in.", file=out)
    else:
        out.write(cli_log.format_table([record for record, _ in pairs]))
    return 0


def run_report(args) -> int:
    from device import report
    from device.sync.hostdb import HostDbError

    try:
        report.format_for(args.out)   # before any work: the name is a usage error
    except report.UnsupportedFormat as error:
        print(f"facepace report: {error}", file=sys.stderr)
        return 2
    try:
        sessions = [record for record, _ in _host_sessions(args)]
    except HostDbError as error:
        return _fail(str(error))
    image = report.render(sessions, now_wall=datetime.now().timestamp())
    try:
        report.save(image, args.out)
    except OSError as error:
        return _fail(f"cannot write {args.out}: {error}")
    print(f"Wrote {args.out} ({len(sessions)} sessions)")
    return 0


def run_export(args) -> int:
    from device import export

    try:
        written = export.export_log(paths.state_dir() / cli_log.DB_NAME, args.to)
    except export.ExportError as error:
        return _fail(str(error))
    print(f"Exported {written.sessions} sessions to {written.folder}")
    print(f"sessions={written.sessions}")   # read by systemd/facepace-export.sh for the screen
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m device.cli_sync sync ...`: usable before the lead wires `facepace`."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="facepace")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
