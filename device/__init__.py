"""facepace: one-button facial-massage firmware (the application layer)."""

__version__ = "0.1.0"
