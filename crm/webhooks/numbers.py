"""Which organization a delivery belongs to: the one owning the receiving WhatsApp number."""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from crm.models import WhatsAppNumber
from tenancy.context import unscoped

_NOT_DIGITS = re.compile(r"[^0-9]")


def digits(number: str | None) -> str | None:
    """The digits of a phone number as displayed ("+1 555-000 1111" -> "15550001111")."""
    return (_NOT_DIGITS.sub("", number) or None) if number else None


@dataclass(frozen=True, slots=True)
class Receiver:
    """A WhatsApp number of ours, as the webhook needs it."""

    organization_id: uuid.UUID
    display_digits: str | None
    problem: str | None  # why deliveries to it are ignored; None when it is in service


def find_receivers(phone_number_ids: Iterable[str]) -> dict[str, Receiver]:
    """The numbers with these phone_number_ids, by id: one query for the whole delivery."""
    wanted = set(phone_number_ids)
    if not wanted:
        return {}
    # No organization is active yet: the receiving number is what tells us which one this
    # delivery belongs to. phone_number_id is unique across organizations, and only these
    # columns of the matching numbers are read.
    with unscoped():
        rows = list(
            WhatsAppNumber.objects.filter(phone_number_id__in=wanted)
            .order_by()
            .values_list(
                "phone_number_id", "organization_id", "display_number", "is_active",
                "organization__is_active",
            )
        )
    found = {}
    for phone_number_id, organization_id, display, active, organization_active in rows:
        problem = None
        if not organization_active:
            problem = "the number's organization is inactive"
        elif not active:
            problem = "inactive phone number"
        found[phone_number_id] = Receiver(organization_id, digits(display), problem)
    return found
