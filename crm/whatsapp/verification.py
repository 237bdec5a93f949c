"""Number verification: an organization receives a number's messages only once it proved control.

Anyone can type a `phone_number_id` into a form; only whoever holds a token that Meta accepts for
that number can read it back from the Graph API (`GET /{phone_number_id}` answering that id, and
`GET /{whatsapp_business_account_id}` for its account when one is set). `verify_number()` is the
one entry point: called when a number is created or its id, account or token changes (API and
admin), it stores `verified` or `pending` with a note saying why. Platform staff may mark a number
verified by hand (`mark_verified_by_hand()`), when Meta cannot be asked.

The outcome is written only where the row still holds the id, token and account that were
checked: a request that changes them during Meta's answer must not get the new id verified by
the old proof. A phone_number_id is verified in one organization at most (crm.0020): a second
organization proving it too stays pending, and learns it only after Meta confirmed its token.
"""
from __future__ import annotations

import logging
import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Verification, WhatsAppNumber
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import GraphError, NumberUnavailable, TransportError
from tenancy.context import tenant_context

logger = logging.getLogger("crm.whatsapp")

_DIGITS = re.compile(r"[0-9]+")

FIELDS = ["verification_status", "verified_at", "verification_note"]
IN_SERVICE_ELSEWHERE = (
    "Meta confirmed the access token, but this number already receives its messages in another "
    "organization of this platform: ask platform staff which organization should receive it."
)


def _malformed(number: WhatsAppNumber) -> str | None:
    """Why the number's ids cannot be Meta's (a legacy row): nothing is asked then."""
    ids = {"phone_number_id": number.phone_number_id or "",
           "whatsapp_business_account_id": number.whatsapp_business_account_id}
    for field, value in ids.items():
        if value is not None and not _DIGITS.fullmatch(value):
            return f"{field} is not Meta's id (digits only): correct it, then save again."
    return None


def _ask_meta(number: WhatsAppNumber) -> str | None:
    """None when the number's token proves control of its id (and account); otherwise why not."""
    asked = f"phone_number_id {number.phone_number_id}"
    try:
        # No retries: the answer is wanted while the user waits, and a save asks again.
        client = GraphClient(number, retries=0)
        answer = client.get_phone_number(fields="id")
        if str(answer.get("id")) != number.phone_number_id:
            return (f"Meta answered for another number than {number.phone_number_id}: check "
                    "the phone_number_id.")
        account = number.whatsapp_business_account_id
        if account:
            asked = f"WhatsApp Business Account {account}"
            answer = client.request("GET", account, params={"fields": "id"})
            if not isinstance(answer, dict) or str(answer.get("id")) != account:
                return (f"Meta answered for another account than {account}: check the "
                        "whatsapp_business_account_id.")
    except NumberUnavailable as error:
        return str(error)
    except TransportError:
        return "The Graph API could not be reached: save the number again to retry."
    except GraphError as error:
        return (f"Meta refused this access token for {asked} (error {error.code}): set the "
                "token of the WhatsApp Business account that owns the number.")
    return None


def _outcome(problem: str | None) -> dict[str, object]:
    return {
        "verification_status": Verification.PENDING if problem else Verification.VERIFIED,
        "verified_at": None if problem else timezone.now(),
        "verification_note": problem or "Meta confirmed the access token controls it.",
    }


def _write(number: WhatsAppNumber, values: dict[str, object]) -> bool:
    """Store `values` if the row still holds what was checked; False if it changed meanwhile."""
    phone_number_id, token, account = number.proof_key()
    still_checked = WhatsAppNumber.objects.filter(
        pk=number.pk, phone_number_id=phone_number_id, access_token=token,
        whatsapp_business_account_id=account,
    )
    try:
        with transaction.atomic():
            written = still_checked.update(**values)
    except IntegrityError:
        # Another organization's row with this id is verified (unique among verified rows).
        values.update(_outcome(IN_SERVICE_ELSEWHERE))
        written = still_checked.update(**values)
    if written:
        for field, value in values.items():
            setattr(number, field, value)
    return bool(written)


def verify_number(number: WhatsAppNumber) -> bool:
    """Ask Meta whether the number's token controls its id; store and return the outcome."""
    malformed = _malformed(number)
    if malformed:
        # A legacy row breaking crm.0020's checks cannot be updated until its ids are fixed.
        logger.warning("WhatsApp number %s not checked: %s", number.pk, malformed)
        number.verification_note = malformed
        return False
    with tenant_context(number.organization_id):
        problem = _ask_meta(number)
        if not _write(number, _outcome(problem)):
            logger.warning("WhatsApp number %s changed while Meta was asked: the outcome for the "
                           "old id and token is dropped", number.pk)
            return False
    if not number.is_verified:
        logger.warning("WhatsApp number %s left pending: %s", number.phone_number_id,
                       number.verification_note)
    return number.is_verified


def mark_verified_by_hand(number: WhatsAppNumber, staff_username: str) -> bool:
    """Platform staff vouch for the number (checked with Meta another way); False if refused."""
    if _malformed(number):
        return False
    with tenant_context(number.organization_id):
        values = {
            "verification_status": Verification.VERIFIED, "verified_at": timezone.now(),
            "verification_note": f"Marked verified by hand by platform staff {staff_username}.",
        }
        return _write(number, values) and number.is_verified
