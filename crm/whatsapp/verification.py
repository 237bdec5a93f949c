"""Number verification: an organization receives a number's messages only once it proved control.

Anyone can type a `phone_number_id` into a form; only whoever holds a token that Meta accepts for
that number can read it back from the Graph API (`GET /{phone_number_id}` answering that id).
`verify_number()` is the one entry point: called when a number is created or its id or token
changes (API and admin), it stores `verified` or `pending` with a note saying why. Platform staff
may mark a number verified by hand (`mark_verified_by_hand()`), when Meta cannot be asked.
"""
from __future__ import annotations

import logging

from django.utils import timezone

from crm.models import Verification, WhatsAppNumber
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import GraphError, NumberUnavailable, TransportError
from tenancy.context import tenant_context

logger = logging.getLogger("crm.whatsapp")

FIELDS = ["verification_status", "verified_at", "verification_note"]


def _ask_meta(number: WhatsAppNumber) -> str | None:
    """None when the number's token proves control of its id; otherwise why not."""
    try:
        # No retries: the answer is wanted while the user waits, and a save asks again.
        answer = GraphClient(number, retries=0).get_phone_number(fields="id")
    except NumberUnavailable as error:
        return str(error)
    except TransportError:
        return "The Graph API could not be reached: save the number again to retry."
    except GraphError as error:
        return (f"Meta refused this access token for phone_number_id {number.phone_number_id} "
                f"(error {error.code}): set the token of the WhatsApp Business account that "
                "owns the number.")
    if str(answer.get("id")) != number.phone_number_id:
        return (f"Meta answered for another number than {number.phone_number_id}: check the "
                "phone_number_id.")
    return None


def verify_number(number: WhatsAppNumber) -> bool:
    """Ask Meta whether the number's token controls its id; store and return the outcome."""
    with tenant_context(number.organization_id):
        problem = _ask_meta(number)
        number.verification_status = Verification.PENDING if problem else Verification.VERIFIED
        number.verified_at = None if problem else timezone.now()
        number.verification_note = problem or "Meta confirmed the access token controls it."
        number.save(update_fields=FIELDS)
    if problem:
        logger.warning("WhatsApp number %s left pending: %s", number.phone_number_id, problem)
    return problem is None


def mark_verified_by_hand(number: WhatsAppNumber, staff_username: str) -> None:
    """Platform staff vouch for the number (checked with Meta another way)."""
    with tenant_context(number.organization_id):
        number.verification_status = Verification.VERIFIED
        number.verified_at = timezone.now()
        number.verification_note = f"Marked verified by hand by platform staff {staff_username}."
        number.save(update_fields=FIELDS)
