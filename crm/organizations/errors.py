"""Refusals of the organization's settings, each saying what to do next."""
from __future__ import annotations


class SettingsError(Exception):
    """A refused change of the organization's settings; `status` is the HTTP answer."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidLogo(SettingsError):
    """An upload that is not a PNG, JPEG or WebP image of a sane size."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "logo")
