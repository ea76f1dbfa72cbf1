"""The project's own exceptions: each message says what to fix and where."""

import drivers.errors


class FacepaceError(Exception):
    """Base for errors a person can act on."""


class UsageError(FacepaceError):
    """The command line asks for something that cannot be done (exit 2, like argparse's own)."""


class ConfigError(FacepaceError):
    """A config file has a bad value (message names file, line, key and what is allowed)."""


class RoutineError(FacepaceError):
    """A routine file is invalid; `problems` holds every message, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class NoHardwareError(FacepaceError, drivers.errors.NoHardwareError):
    """The real GPIO or I2C bus is not there (not a Raspberry Pi, or not wired/enabled)."""
