"""Session-log sync over USB serial (issue 5); the wire format is in docs/sync-protocol.md.

- `frames`: bytes <-> frames (magic, type, length, CRC-32), a resynchronising decoder.
- `protocol`: message types, JSON payloads, validation of untrusted input.
- `server`: the device side, a stoppable thread serving one connection at a time.
- `host`: the computer side, `facepace sync`.
- `hostdb`: the computer's SQLite database of synced sessions, several devices in one.
- `clockfix`: the device's host-corrected wall clock and date corrections.
"""
