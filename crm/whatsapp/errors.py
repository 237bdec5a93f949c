"""Graph API errors by Meta's error `code`, each saying what the caller should do (`action`).

Built on the code, never on Meta's message text. Exceptions carry Meta's code, subcode, message
and fbtrace id, never the access token or the request body (see client.py).
"""
from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar


class Action(str, Enum):
    """What a sender does about an error."""

    RETRY = "retry"  # back off and try again later
    FAIL = "fail"  # the message failed; do not retry it as is
    OPTED_OUT = "opted_out"  # the customer stopped marketing messages
    STOP = "stop"  # stop sending from this number or account; admins must act
    OUTSIDE_WINDOW = "outside_window"  # send a template instead


class GraphError(Exception):
    """A call to the Graph API failed; `code` is Meta's error code (None: no answer)."""

    action: ClassVar[Action] = Action.FAIL
    codes: ClassVar[frozenset[int]] = frozenset()
    hint: ClassVar[str] = "Check the request against Meta's documentation."

    def __init__(
        self, message: str, *, code: int | None = None, subcode: int | None = None,
        http_status: int | None = None, details: str | None = None,
        fbtrace_id: str | None = None, retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.retry_after = retry_after  # seconds, when Meta's answer said (Retry-After)

    def __str__(self) -> str:
        code = f" (code {self.code})" if self.code is not None else ""
        details = f": {self.details}" if self.details and self.details != self.message else ""
        return f"{self.message}{code}{details}. {self.hint}"

    def as_json(self) -> dict[str, Any]:
        """What an API answer or a log shows of this error."""
        return {
            "code": self.code, "subcode": self.subcode, "action": self.action.value,
            "message": self.message, "details": self.details, "fbtrace_id": self.fbtrace_id,
        }


class AuthError(GraphError):
    """The number's access token is invalid or expired."""

    action = Action.STOP
    codes = frozenset({0, 190})
    hint = "Replace the number's access token; nothing is sent from it until then."


class PermissionMissingError(GraphError):
    """The token lacks a permission for this number or account."""

    action = Action.STOP
    codes = frozenset({10, *range(200, 300)})
    hint = "Grant the app whatsapp_business_messaging/management on this number's account."


class ThroughputError(GraphError):
    """App, account or number throughput reached."""

    action = Action.RETRY
    codes = frozenset({4, 80007, 130429})
    hint = "Too many messages at once; retry later."


class PairRateLimitError(GraphError):
    """Too many messages to the same customer from the same number."""

    action = Action.RETRY
    codes = frozenset({131056})
    hint = "Wait a few seconds before writing to this customer again."


class OutsideWindowError(GraphError):
    """More than 24 hours since the customer last wrote."""

    action = Action.OUTSIDE_WINDOW
    codes = frozenset({131047})
    hint = "Outside the 24-hour window only a template can be sent."


class UndeliverableError(GraphError):
    """The recipient cannot receive it (not on WhatsApp, blocked, old app)."""

    codes = frozenset({131026})
    hint = "The message is marked failed; do not retry it."


class SpamLimitError(GraphError):
    """The number's quality triggered Meta's spam rate limit."""

    action = Action.STOP
    codes = frozenset({131048})
    hint = "Stop campaigns from this number; its admins must improve its quality rating."


class EcosystemLimitError(GraphError):
    """Meta chose not to deliver this marketing message."""

    codes = frozenset({131049})
    hint = "The message is marked failed; retry much later at most."


class OptedOutError(GraphError):
    """The customer stopped marketing messages."""

    action = Action.OPTED_OUT
    codes = frozenset({131050})
    hint = "The customer is marked opted out; never send marketing to them again."


class TemplateError(GraphError):
    """A template problem: missing, paused, disabled, wrong parameters, policy."""

    codes = frozenset({132000, 132001, 132005, 132007, 132012, 132015, 132016})
    hint = "Fix the template or its parameters (see the template's status in Meta's manager)."


class BadRequestError(GraphError):
    """The request is invalid (parameter, unsupported type)."""

    codes = frozenset({100, 131008, 131009, 131051})
    hint = "Fix the request; retrying it as is fails again."


class ServerError(GraphError):
    """Meta failed (unknown, service, something went wrong) or did not answer."""

    action = Action.RETRY
    codes = frozenset({1, 2, 131000})
    hint = "A problem on Meta's side; retry later."


class AccountBlockedError(GraphError):
    """The account or number is blocked or locked."""

    action = Action.STOP
    codes = frozenset({368, 131031})
    hint = "Stop sending from this account; its admins must resolve it with Meta."


class TransportError(ServerError):
    """No answer from the Graph API (connection refused, timeout)."""

    hint = "The Graph API could not be reached; retry later."

    def __init__(self, message: str, *, not_sent: bool) -> None:
        super().__init__(message)
        self.not_sent = not_sent  # failed before reaching Meta: even a send may be retried


class UnsafeRequest(GraphError):
    """A Graph API call refused before sending: an id that is no id, or a URL off Meta's hosts."""

    action = Action.STOP
    hint = ("Nothing was sent. Meta's ids (phone_number_id, whatsapp_business_account_id, media "
            "ids) are digits: correct the number in the admin or the API.")


ERROR_CLASSES: tuple[type[GraphError], ...] = (
    AuthError, PermissionMissingError, ThroughputError, PairRateLimitError, OutsideWindowError,
    UndeliverableError, SpamLimitError, EcosystemLimitError, OptedOutError, TemplateError,
    BadRequestError, ServerError, AccountBlockedError,
)
_BY_CODE = {code: cls for cls in ERROR_CLASSES for code in cls.codes}


def class_for(code: int | None, http_status: int | None = None) -> type[GraphError]:
    """The error class of a Meta code; unknown codes by HTTP status (5xx, 429: retryable)."""
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return ServerError if http_status >= 500 else ThroughputError
    if http_status == 401:
        return AuthError
    return BadRequestError


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def error_from_response(
    http_status: int, body: Any, retry_after: float | None = None
) -> GraphError:
    """The exception for a Graph error answer (`{"error": {...}}`), whatever its shape."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = _int(error.get("code"))
    data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
    details = data.get("details")
    message = str(error.get("message") or f"Graph API answered HTTP {http_status}")[:500]
    return class_for(code, http_status)(
        message, code=code, subcode=_int(error.get("error_subcode")), http_status=http_status,
        details=str(details)[:500] if details else None,
        fbtrace_id=str(error["fbtrace_id"])[:100] if error.get("fbtrace_id") else None,
        retry_after=retry_after,
    )


class NumberUnavailable(LookupError):
    """The number is not the active organization's, is inactive, or has no access token."""
