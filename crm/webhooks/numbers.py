"""Which organization a delivery belongs to: the one owning the receiving WhatsApp number."""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from crm.models import Verification, WhatsAppNumber
from tenancy.context import unscoped

_NOT_DIGITS = re.compile(r"[^0-9]")


def digits(number: str | None) -> str | None:
    """The digits of a phone number as displayed ("+1 555-000 1111" -> "15550001111")."""
    return (_NOT_DIGITS.sub("", number) or None) if number else None


@dataclass(frozen=True, slots=True)
class Receiver:
    """A WhatsApp number of ours, as the webhook needs it."""

    organization_id: uuid.UUID | None  # None when no organization has proved control of it
    display_digits: str | None
    problem: str | None  # why deliveries to it are ignored; None when it is in service


# phone_number_id -> (valid until, the number or None when unknown), per process.
_recent: dict[str, tuple[float, Receiver | None]] = {}


def find_receivers(phone_number_ids: Iterable[str]) -> dict[str, Receiver]:
    """The numbers with these phone_number_ids, by id: at most one query per delivery.

    Lookups are kept for WHATSAPP_NUMBER_CACHE_SECONDS in each process (Meta sends every message
    to a number to the same few ids), so deactivating a number or an organization takes that
    long to reach the webhook.
    """
    wanted = set(phone_number_ids)
    now = time.monotonic()
    cached = {key: _recent[key] for key in wanted if key in _recent and _recent[key][0] > now}
    found = {key: receiver for key, (_, receiver) in cached.items() if receiver is not None}
    missing = wanted - set(cached)
    if missing:
        looked_up = _look_up(missing)
        ttl = settings.WHATSAPP_NUMBER_CACHE_SECONDS
        if ttl > 0:
            _recent.update((key, (now + ttl, looked_up.get(key))) for key in missing)
        found.update(looked_up)
    return found


def _look_up(wanted: set[str]) -> dict[str, Receiver]:
    """One query for the numbers with these phone_number_ids: the verified row of each."""
    # No organization is active yet: the receiving number is what tells us which one this
    # delivery belongs to. Several organizations may have typed the same phone_number_id; at most
    # one row of it is verified (crm.0020), and only that one receives. Only these columns of
    # the matching numbers are read.
    with unscoped():
        rows = list(
            WhatsAppNumber.objects.filter(phone_number_id__in=wanted)
            .order_by()
            .values_list(
                "phone_number_id", "organization_id", "display_number", "is_active",
                "organization__is_active", "verification_status",
            )
        )
    found = {}
    for phone_number_id, organization_id, display, active, organization_active, status in rows:
        if status != Verification.VERIFIED:
            # Anyone may type a phone_number_id: its messages go nowhere until proved, and the
            # answer names no organization (one or several may have typed it).
            found.setdefault(phone_number_id, Receiver(
                None, None, "phone number not verified: no organization has proved control of it"
            ))
            continue
        problem = None
        if not organization_active:
            problem = "the number's organization is inactive"
        elif not active:
            problem = "inactive phone number"
        found[phone_number_id] = Receiver(organization_id, digits(display), problem)
    return found
