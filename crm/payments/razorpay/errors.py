"""Razorpay's refusals, each saying what to do; built from Razorpay's status and error code,
never carrying the key secret or the request's headers."""
from __future__ import annotations

from typing import Any

from crm.integrations.errors import IntegrationError


class RazorpayError(IntegrationError):
    """Razorpay refused a call or could not be reached."""

    hint = "Check the request against Razorpay's documentation."

    def __init__(self, message: str, *, http_status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code

    def __str__(self) -> str:
        code = f" ({self.code})" if self.code else ""
        return f"Razorpay: {self.message}{code}. {self.hint}"


class AuthenticationFailed(RazorpayError):
    """The key id and key secret were refused (401)."""

    hint = ("Check the key id and key secret in Razorpay's Dashboard (Account & Settings, API "
            "keys) and store them again with PUT /api/v1/integrations/razorpay/.")


class BadRequest(RazorpayError):
    """Razorpay will not take the request as it is (4xx)."""


class Unavailable(RazorpayError):
    """No answer, or a server error: nothing is known to have happened; try again later."""

    hint = "Razorpay did not answer or failed; try again in a minute."


class NotFound(RazorpayError):
    """Razorpay knows no such object in this account (404)."""

    hint = "The id belongs to no object of this Razorpay account."


def error_from_response(status: int, body: Any) -> RazorpayError:
    """The error class for Razorpay's answer `status` / `body`."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("description") or f"HTTP {status}")[:300]
    code = str(error.get("code"))[:60] if error.get("code") else None
    cls = (AuthenticationFailed if status == 401 else NotFound if status == 404
           else Unavailable if status >= 500 or status == 429 else BadRequest)
    return cls(message, http_status=status, code=code)
