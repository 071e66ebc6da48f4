"""The cashier's touch-screen terminal page (/terminal): one page, its screens drawn by
the ES modules of static/terminal/ over the JSON API, every string from the message catalogue."""

from .routes import bp

__all__ = ["bp"]
