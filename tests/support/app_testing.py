"""What the companion page's tests share (tests/companion/app): its fixed port and clock, and
the headers its own script sends with a change."""

from __future__ import annotations

PORT = 8765
NOW = 1_796_300_000.0          # Thu 3 Dec 2026, 12:13 UTC; the page's clock is injected


def changing(keys) -> dict:
    return {"Origin": f"http://127.0.0.1:{PORT}", "X-CSRF-Token": keys.csrf}
