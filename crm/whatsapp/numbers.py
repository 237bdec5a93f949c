"""Which of the organization's WhatsApp numbers a conversation uses."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from crm.models import Customer, Message, WhatsAppNumber
from crm.webhooks.numbers import digits
from crm.webhooks.payload import NOT_WRITING
from crm.whatsapp.refusals import Refused


def _by_key(key: str) -> WhatsAppNumber | None:
    """The active organization's number by its id (UUID) or its phone_number_id."""
    try:
        return WhatsAppNumber.objects.filter(pk=uuid.UUID(str(key))).first()
    except ValueError:
        return WhatsAppNumber.objects.filter(phone_number_id=str(key)).first()


@dataclass(frozen=True)
class LastInbound:
    """The customer's latest message to us: when (the window), and to which number's digits."""

    timestamp: datetime | None = None
    to_digits: str | None = None


def last_inbound(customer: Customer) -> LastInbound:
    """One query for the customer's latest inbound message (one they wrote: not a system
    notice nor a deletion, which do not open the window)."""
    row = (
        Message.objects.filter(customer=customer, sender_type="customer", timestamp__isnull=False)
        .exclude(type__in=NOT_WRITING)
        .order_by("-timestamp").values_list("timestamp", "to_wa_id").first()
    )
    return LastInbound(row[0], digits(row[1])) if row else LastInbound()


def sending_number(
    customer: Customer, key: str | None = None, last: LastInbound | None = None
) -> WhatsAppNumber:
    """The number to write to `customer` from: `key` if given, else the conversation's own.

    The conversation's own number is the one the customer last wrote to; failing that, the
    organization's oldest active number. Another organization's number is not found (404).
    """
    if key:
        number = _by_key(key)
        if number is None:
            raise Refused(404, "number_not_found", "No WhatsApp number of your organization has "
                          "this id; list yours at /api/v1/whatsapp-numbers/.", field="from_number")
        if not number.is_active:
            raise Refused(400, "number_inactive", f"The WhatsApp number {number} is inactive: "
                          "activate it or send from another.", field="from_number")
        return number
    number = conversation_number(customer, last)
    if number is None:
        raise Refused(409, "no_number", "Your organization has no active WhatsApp number: "
                      "add one (with its access token) before sending.")
    return number


def conversation_number(
    customer: Customer, last: LastInbound | None = None
) -> WhatsAppNumber | None:
    """The active number the customer last wrote to, else the organization's oldest active one."""
    active = list(WhatsAppNumber.objects.filter(is_active=True)
                  .order_by("created_at", "phone_number_id"))
    written_to = (last or last_inbound(customer)).to_digits if active else None
    for number in active:
        if written_to and digits(number.display_number) == written_to:
            return number
    return active[0] if active else None
