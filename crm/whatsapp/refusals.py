"""Why a send (or a mark-read) was refused, with the HTTP status the API answers it with."""
from __future__ import annotations

from typing import Any

from crm.whatsapp.errors import Action, GraphError, ServerError

# Meta's refusals by what the sender should do: the API's status for each.
STATUS_BY_ACTION = {
    Action.RETRY: 429, Action.FAIL: 422, Action.OPTED_OUT: 409, Action.OUTSIDE_WINDOW: 409,
    Action.STOP: 502,
}


class Refused(Exception):
    """The request cannot be carried out; `status` is the HTTP answer, `code` a stable name."""

    def __init__(self, status: int, code: str, detail: str, *, field: str | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.extra = extra

    def as_json(self) -> dict[str, Any]:
        """The API answer's body."""
        body: dict[str, Any] = {"detail": self.detail, "code": self.code}
        if self.field:
            body["field"] = self.field
        return {**body, **self.extra}


class MetaRefused(Refused):
    """Meta refused the call (or did not answer); the failed message, if any, is stored."""

    def __init__(self, error: GraphError, message: Any = None) -> None:
        # Meta failing or not answering is a bad gateway; throughput limits are ours to wait on.
        status = 502 if isinstance(error, ServerError) else STATUS_BY_ACTION[error.action]
        super().__init__(status, "meta_error", f"WhatsApp refused it: {error}",
                         meta=error.as_json())
        self.error = error
        self.message = message
