"""What segments refuse, each saying how to fix it."""
from __future__ import annotations


class InvalidFilter(ValueError):
    """A segment filter that cannot be applied; the message names the filter."""
