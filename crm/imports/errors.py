"""What contact imports and exports refuse, each saying what to do instead."""
from __future__ import annotations


class ImportRefused(Exception):
    """A file or mapping that cannot be imported; `field` names the request field (400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidCountry(ValueError):
    """Not a country phonenumbers knows (an ISO 3166 alpha-2 code such as IN)."""
