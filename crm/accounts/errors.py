"""Refusals of the account lifecycle, each saying what to do next."""
from __future__ import annotations


class AccountError(Exception):
    """A refused account action; `status` is the HTTP answer, `field` the input at fault."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SignupClosed(AccountError):
    """Public sign-up is off (SIGNUP_OPEN=false)."""

    status = 403

    def __init__(self) -> None:
        super().__init__("Public sign-up is closed on this server: ask the platform team to "
                         "create your organization.")


class BadLink(AccountError):
    """A link that is forged, expired, or already used."""

    def __init__(self, what: str) -> None:
        super().__init__(f"This {what} link is invalid, expired or already used: ask for a new "
                         "one.", field="token")


class Conflict(AccountError):
    """The action clashes with the current state (a taken address, the last ORG_ADMIN)."""

    status = 409


class NotAllowed(AccountError):
    """The caller's role may not do this."""

    status = 403
