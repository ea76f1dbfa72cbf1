"""`facepace config check [FILE]` and `facepace config show`."""

from __future__ import annotations

import argparse
from pathlib import Path

from device.settings import paths
from device.settings.config import as_toml, load_checked_config
from device.settings.paths import config_in_use


def register(subparsers: argparse._SubParsersAction) -> None:
    config = subparsers.add_parser(
        "config", help="check or show the device's settings",
        description=f"The device's settings: pins, display, timeouts, starting intensity and "
                    f"routine. They are read from --config FILE, else {paths.DEVICE_CONFIG} if it "
                    "exists, else the built-in defaults.")
    commands = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check", help="validate a config file (exit 78 if it is bad)",
        description="Check a config file as `facepace run` would: every problem at once, as "
                    "FILE:LINE: what to fix, and exit 78; exit 0 if it is fine.")
    check.add_argument("file", metavar="FILE", nargs="?", type=Path,
                       help="the file to check (default: the config in use)")
    check.set_defaults(func=check_config)

    show = commands.add_parser(
        "show", help="print the settings in use, defaults filled in",
        description="Print the settings in use as a config file, every default filled in, "
                    "saying which file they came from; a value that is not the default says so.")
    show.set_defaults(func=show_config)


def check_config(args: argparse.Namespace) -> int:
    path = args.file or config_in_use(args.config)
    if path is None:
        print(f"No config file ({paths.DEVICE_CONFIG} does not exist): the built-in defaults are in use.")
        return 0
    load_checked_config(path)   # a ConfigError is reported by device.cli.main.main
    print(f"{path}: ok")
    return 0


def show_config(args: argparse.Namespace) -> int:
    config = load_checked_config(config_in_use(args.config))
    if config.source is None:
        print(f"# The built-in defaults: there is no {paths.DEVICE_CONFIG} (--config FILE to use another).")
    else:
        print(f"# From {config.source}; a setting it leaves out has its default.")
    print(as_toml(config), end="")
    return 0
