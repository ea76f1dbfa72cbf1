"""The `facepace` command (main) and its device-side command groups."""
