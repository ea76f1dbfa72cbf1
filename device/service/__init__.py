"""Running as an appliance: firmware, systemd notify and watchdog, export to a drive, motor_off."""
