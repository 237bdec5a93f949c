"""Which of the organization's WhatsApp numbers a conversation uses."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet, Subquery

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


def _written(customer: Customer) -> QuerySet[Message]:
    """The customer's messages to us that open the window (written: not a system notice nor a
    deletion), latest first."""
    return (Message.objects.filter(customer=customer, sender_type="customer",
                                   timestamp__isnull=False)
            .exclude(type__in=NOT_WRITING).order_by("-timestamp", "-id"))


def last_inbound(customer: Customer) -> LastInbound:
    """One query for the customer's latest inbound message (one they wrote: not a system
    notice nor a deletion, which do not open the window)."""
    row = _written(customer).values_list("timestamp", "to_wa_id").first()
    return LastInbound(row[0], digits(row[1])) if row else LastInbound()


def _active() -> QuerySet[WhatsAppNumber]:
    return WhatsAppNumber.objects.filter(is_active=True).order_by("created_at", "phone_number_id")


def _active_and_last(customer: Customer) -> tuple[list[WhatsAppNumber], LastInbound | None]:
    """The active numbers and the customer's latest inbound message in one statement (each
    number row carries the message's columns); no message is read without an active number."""
    written = _written(customer)
    active = list(_active().annotate(
        last_at=Subquery(written.values("timestamp")[:1]),
        last_to=Subquery(written.values("to_wa_id")[:1])))
    if not active:
        return [], None
    first = active[0]
    return active, (LastInbound(first.last_at, digits(first.last_to)) if first.last_at
                    else LastInbound())


def _no_number() -> Refused:
    return Refused(409, "no_number", "Your organization has no active WhatsApp number: add one "
                   "(with its access token) before sending.")


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
        raise _no_number()
    return number


def sending_number_and_last(customer: Customer, key: str | None = None
                            ) -> tuple[WhatsAppNumber, LastInbound]:
    """sending_number and the customer's latest inbound message (the window); for the
    conversation's own number, both in one statement."""
    if key:
        last = last_inbound(customer)
        return sending_number(customer, key, last), last
    active, found = _active_and_last(customer)
    if found is None:
        raise _no_number()
    number = _written_to(active, found)
    assert number is not None  # active is not empty
    return number, found


def _written_to(active: list[WhatsAppNumber], last: LastInbound) -> WhatsAppNumber | None:
    """The active number the customer last wrote to, else the oldest active one."""
    for number in active:
        if last.to_digits and digits(number.display_number) == last.to_digits:
            return number
    return active[0] if active else None


def conversation_number(
    customer: Customer, last: LastInbound | None = None
) -> WhatsAppNumber | None:
    """The active number the customer last wrote to, else the organization's oldest active one."""
    if last is None:
        active, last = _active_and_last(customer)
        return _written_to(active, last) if last is not None else None
    return _written_to(list(_active()), last)
