"""Mark a customer's conversation read, on WhatsApp (blue ticks) and in the messages table.

For an inbound message, delivery_status "read" (with delivery_status_at) records that the
organization read it; outbound messages keep the recipient's status from the webhook.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from crm.models import Customer, Message
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import GraphError, NumberUnavailable
from crm.whatsapp.numbers import sending_number
from crm.whatsapp.refusals import MetaRefused, Refused


@dataclass(frozen=True)
class ReadResult:
    """How many inbound messages became read, and the wamid Meta was told about."""

    marked_read: int
    message_id: str | None


def mark_read(customer: Customer) -> ReadResult:
    """Mark every unread inbound message of `customer` read (one call to Meta: the latest).

    Meta marks the message it is told about and every earlier one of the conversation read.
    """
    unread = (Message.objects.filter(customer=customer, sender_type="customer")
              .exclude(message_id=None).exclude(delivery_status="read"))
    latest = unread.order_by("-timestamp", "-id").only("message_id", "timestamp").first()
    if latest is None:
        return ReadResult(0, None)
    try:
        client = GraphClient(sending_number(customer))
    except NumberUnavailable as error:
        raise Refused(409, "number_unavailable", str(error)) from None
    try:
        client.mark_read(str(latest.message_id))
    except GraphError as error:
        raise MetaRefused(error) from None
    count = unread.filter(timestamp__lte=latest.timestamp).update(
        delivery_status="read", delivery_status_at=timezone.now()
    )
    return ReadResult(count, latest.message_id)
