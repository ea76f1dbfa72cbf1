"""The loop and what it decides: events, clock, gestures, pacing, haptics, the app, and the root
that builds it.
"""
