"""The foundation every layer uses: errors, atomic writes, time formatting, safe output of stored
text.
"""
