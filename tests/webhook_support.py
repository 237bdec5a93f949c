"""The webhook answers 200 once a delivery is kept; what processing stored is on the delivery.

Tests process deliveries inside the request (WEBHOOK_PROCESS_INLINE), so right after the POST
the delivery's `report` says what was stored and ignored, as the answer itself used to.
"""
from __future__ import annotations

from typing import Any

from crm.models import InboundDelivery


class Processed:
    """A webhook answer whose `json()` is its delivery's report (the error body otherwise)."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.status_code = response.status_code
        self.content = response.content

    def __getitem__(self, header: str) -> str:
        return self.response[header]

    def json(self) -> Any:
        """The processed delivery's report for a 200; the answer's own body otherwise."""
        answer = self.response.json()
        if self.status_code != 200:
            return answer
        delivery = InboundDelivery.objects.get(pk=answer["delivery"])
        assert delivery.report is not None, f"{delivery} not processed: {delivery.error}"
        return delivery.report
