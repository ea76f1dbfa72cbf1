"""Runs on the person's computer: `facepace sync`, `history`, `report`, the sync client and its
database.
"""
