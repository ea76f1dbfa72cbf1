"""The safety pages the device shows on first use and on request, one press each.

What they say, and where it comes from, is README "Safety". Each page is checked to fit the
128x64 panel without shortening (tests/device/screen/test_safety.py).
"""

from __future__ import annotations

from device.screen.views import SafetyView

SAFETY_PAGES = (
    ("Healthy skin only", "Not on broken, inflamed or sunburnt skin or active acne."),
    ("After injectables", "Wait two weeks after fillers or Botox. Set a rest meanwhile."),
    ("Stop if it hurts", "It should feel good. Pain, tingling or a rash: stop."),
    ("Eyes: lightest", "Under-eye: lightest touch, on the bone, never the lid."),
)


def safety_view(index: int) -> SafetyView:
    """Page `index` (0-based) of SAFETY_PAGES as the screen shows it."""
    title, text = SAFETY_PAGES[index]
    return SafetyView(title=title, text=text, page=index + 1, pages=len(SAFETY_PAGES))
