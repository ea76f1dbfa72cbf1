"""The session log on the card: schema and migrations, recorder, repair, history, report, date
fixes.
"""
