"""Keys typed faster than a finger: each key's gesture starts once the one before is told apart."""

from __future__ import annotations

import pytest

from device.core.gestures import GestureRecognizer
from device.settings.config import ButtonConfig
from device.sim.simulator import finger_downs
from device.sim.terminal import next_gesture_at

BUTTON = ButtonConfig()


def told_apart(keys: list[tuple[float, str]]) -> list[str]:
    """The gestures the app's own recogniser makes of keys typed at these instants."""
    gestures = GestureRecognizer(hold_seconds=BUTTON.hold_seconds, double_window=BUTTON.double_press_ms / 1000)
    edges, free_at = [], 0.0
    for typed_at, gesture in keys:
        at, free_at = next_gesture_at(typed_at, free_at, gesture, BUTTON)
        for down, up in finger_downs(at, gesture, hold_seconds=BUTTON.hold_seconds):
            edges += [(down, True), (up, False)]
    found = []
    for at, pressed in sorted(edges):
        found += [gesture for _, gesture in gestures.due(at)]
        if gesture := gestures.edge(pressed, at):
            found.append(gesture)
    return found + [gesture for _, gesture in gestures.due(free_at + 10)]


@pytest.mark.parametrize("keys", [
    [(0.0, "press"), (0.05, "press")],
    [(0.0, "double"), (0.2, "hold")],
    [(0.0, "hold"), (0.1, "press"), (0.15, "double"), (0.2, "press")],
], ids=["two-presses", "double-then-hold", "four-keys"])
def test_keys_typed_at_once_each_become_their_own_gesture(keys):
    assert told_apart(keys) == [gesture for _, gesture in keys]


def test_a_key_typed_when_the_finger_is_free_starts_at_once():
    assert next_gesture_at(5.0, 1.0, "press", BUTTON)[0] == 5.0
