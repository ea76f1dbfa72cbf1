"""Test support kept out of the wheel: drills, pty links and scripted devices, the firmware child."""
