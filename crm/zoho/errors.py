"""Zoho's refusals, each saying what to do; `retryable` ones are tried again by the push task."""
from __future__ import annotations


class ZohoError(Exception):
    """A Zoho call failed; the message says what to do next."""

    retryable = False
    status = 400  # the API's answer when a hand push meets it


class NotConfigured(ZohoError):
    """The organization has no Zoho credentials."""

    def __init__(self) -> None:
        super().__init__("Zoho CRM is not configured: store the client id, client secret, "
                         "refresh token and domain at PUT /api/v1/integrations/zoho/.")


class Broken(ZohoError):
    """The stored credentials were refused; pushes wait until they are replaced."""

    status = 409

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or (
            f"Zoho CRM refused the organization's credentials ({reason}): store a new refresh "
            "token at PUT /api/v1/integrations/zoho/; waiting leads are pushed then."))
        self.reason = reason


class AlreadyPushed(ZohoError):
    """The lead is in Zoho already."""

    status = 409


class InProgress(ZohoError):
    """Another push of the same lead is running."""

    retryable = True
    status = 409


class Unavailable(ZohoError):
    """Zoho did not answer, was busy (429) or failed (5xx): try again later."""

    retryable = True
    status = 503


class ExpiredToken(ZohoError):
    """The access token was refused (expired early or revoked alone): refresh once, then retry."""

    retryable = True


class Rejected(ZohoError):
    """Zoho refused the record (INVALID_DATA, DUPLICATE_DATA, MANDATORY_NOT_FOUND)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        where = f" in {field}" if field else ""
        super().__init__(f"Zoho CRM refused the lead: {code}{where} ({message}); correct the "
                         "lead or the organization's zoho mappings, then push it again.")
        self.code = code
        self.field = field
        self.status = 409 if code == "DUPLICATE_DATA" else 400
