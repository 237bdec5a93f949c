"""Outgoing webhooks' refusals, each saying what to do instead."""
from __future__ import annotations


class InvalidSubscription(ValueError):
    """A subscription's field is not acceptable; `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UnsafeAddress(InvalidSubscription):
    """The URL is not http(s), or its host is (or resolves to) an address webhooks never reach."""

    def __init__(self, message: str) -> None:
        super().__init__("url", message)
