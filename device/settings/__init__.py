"""What the person chose: config, routines (built-ins in routines/), choices, paths, the TOML
reader.
"""
