"""Session-log sync over USB serial (issue 5); the wire format is in docs/sync-protocol.md.

- `frames`: bytes <-> frames (magic, type, length, CRC-32), a resynchronising decoder.
- `protocol`: message types, JSON payloads, validation of untrusted input.
- `source`: the sessions the device offers, read from the log.
- `server`: the device side, a stoppable thread serving one connection at a time (in the
  process of `facepace sync-serve`, `device.service.sync_service`).
- `channel`: small JSON datagrams between that process and the firmware (status, clock, hello).

The computer's side is in `companion` (`sync_client`, `hostdb`); the host-corrected wall clock
and the date corrections are `device.log.clockfix`, as the log keeps them.
"""
