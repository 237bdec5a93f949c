"""Refusals of exports and erasure, each saying what to do next."""
from __future__ import annotations


class LifecycleError(Exception):
    """A refused export or erasure; `status` is the HTTP answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LinkRefused(LifecycleError):
    """A download link that is forged, or not for this export or organization."""

    status = 404

    def __init__(self) -> None:
        super().__init__("This download link is invalid or expired (links last 24 hours): "
                         "request a new export.")


class LinkExpired(LifecycleError):
    """A genuine download link of the organization's export whose 24 hours are over: its file
    is deleted (or about to be) by beat."""

    status = 410

    def __init__(self) -> None:
        super().__init__("This download link expired (links last 24 hours) and its file is "
                         "deleted: request a new export.")


class ExportRunning(LifecycleError):
    """An export of the organization is already queued or running."""

    status = 409

    def __init__(self) -> None:
        super().__init__("An export of your organization is already being written: wait for it "
                         "(GET its id) before asking for another.")
