"""Embedded Signup: connect the WhatsApp number a business chose in Meta's popup, all or nothing.

The popup gives the page a one-time `code` and the ids of the account and number. Every Meta
step runs before anything is stored: exchange the code for the business's token, read the number
with it (proof that the token controls it), subscribe the app to the account, register the number
with a PIN chosen here, fetch the account's templates. Only then is the number stored verified,
with its token, PIN and templates, in one transaction; a step that fails leaves no row behind and
answers with the step's name and what to do. Every call goes through GraphClient (logged, token
masked); the app secret and the code never reach a log.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Verification, WhatsAppNumber
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import GraphError, ServerError
from crm.whatsapp.refusals import Refused
from crm.whatsapp.templates import fetch_account_templates, store_account_templates
from crm.whatsapp.verification import IN_SERVICE_ELSEWHERE
from tenancy.context import get_current_organization_id, unscoped

T = TypeVar("T")
DIGITS = re.compile(r"[0-9]{1,100}")
NUMBER_FIELDS = "id,display_phone_number,verified_name,quality_rating"
# What each step does, in the admin's words: a failure names it.
STEPS = {
    "exchange": "exchanging Embedded Signup's code for your business's access token",
    "read": "reading the phone number with that token",
    "subscribe": "subscribing this app to your WhatsApp Business Account",
    "register": "registering the phone number for the Cloud API",
    "templates": "reading your account's message templates",
}
RETRY = {
    "exchange": "the code is valid once and for a few minutes: open Embedded Signup again.",
    "read": "check that you chose this number in Embedded Signup, then try again.",
    "subscribe": "check the app's permissions on the account in Meta Business Suite, then try "
                 "again.",
    "register": "if the number has a two-step verification PIN, turn it off in WhatsApp "
                "Manager, then try again.",
    "templates": "try again in a minute.",
}


def app_credentials() -> tuple[str, str]:
    """The Meta app's id and secret from the settings; 409 saying what to set if missing."""
    app_id = str(getattr(settings, "WHATSAPP_APP_ID", "") or "")
    secret = str(getattr(settings, "WHATSAPP_APP_SECRET", "") or "")
    if not app_id or not secret:
        raise Refused(409, "embedded_signup_off", "Embedded Signup is not set up on this server: "
                      "set WHATSAPP_APP_ID and WHATSAPP_APP_SECRET (and "
                      "WHATSAPP_EMBEDDED_SIGNUP_CONFIG_ID for the page).")
    return app_id, secret


def _step(name: str, call: Callable[[], T]) -> T:
    """Run one Meta step; its failure becomes a refusal naming the step (400, or 502 if Meta
    failed or did not answer)."""
    try:
        return call()
    except GraphError as error:
        status = 502 if isinstance(error, ServerError) else 400
        code = f" (error {error.code})" if error.code is not None else ""
        raise Refused(status, f"meta_{name}_failed",
                      f"Meta refused {STEPS[name]}{code}: {error.message}. {RETRY[name]} "
                      "Nothing was stored.", step=name) from None


def _probe(phone_number_id: str, waba_id: str, token: str) -> WhatsAppNumber:
    """An unsaved number of the active organization: GraphClient calls Meta as it."""
    return WhatsAppNumber(organization_id=get_current_organization_id(),
                          phone_number_id=phone_number_id, whatsapp_business_account_id=waba_id,
                          access_token=token)


def _exchange(code: str, phone_number_id: str, waba_id: str) -> str:
    """The business integration token for Embedded Signup's `code`."""
    app_id, secret = app_credentials()
    # The app's own access token ("id|secret") is what Meta accepts for the exchange.
    client = GraphClient(_probe(phone_number_id, waba_id, f"{app_id}|{secret}"), retries=0)
    answer = client.request("GET", "oauth", "access_token", params={
        "client_id": app_id, "client_secret": secret, "code": code})
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token or len(token) > 500:
        raise GraphError("Meta answered without an access token", http_status=200)
    return token


def _in_service_elsewhere(phone_number_id: str) -> bool:
    """Whether another organization already receives this number (verified there)."""
    organization_id = get_current_organization_id()
    # A number is verified in one organization at most (crm.0020): the check must see the others'
    # rows; only a yes/no leaves this block, never which organization.
    with unscoped():
        return (WhatsAppNumber.objects.filter(phone_number_id=phone_number_id,
                                              verification_status=Verification.VERIFIED)
                .exclude(organization_id=organization_id).exists())


def _check_ids(code: str, waba_id: str, phone_number_id: str) -> None:
    for field, value in (("waba_id", waba_id), ("phone_number_id", phone_number_id)):
        if not isinstance(value, str) or not DIGITS.fullmatch(value):
            raise Refused(400, "invalid", f"{field} must be Meta's id (digits only), as "
                          "Embedded Signup gave it.", field=field)
    if not isinstance(code, str) or not code.strip() or len(code) > 1000:
        raise Refused(400, "invalid", "code must be the code Embedded Signup gave (FB.login's "
                      "authResponse.code).", field="code")


def connect_number(code: str, waba_id: str, phone_number_id: str) -> WhatsAppNumber:
    """Connect the number through Meta's steps, then store it verified; Refused otherwise."""
    _check_ids(code, waba_id, phone_number_id)
    token = _step("exchange", lambda: _exchange(code, phone_number_id, waba_id))
    client = GraphClient(_probe(phone_number_id, waba_id, token), retries=0)
    details: dict[str, Any] = _step("read", lambda: client.get_phone_number(NUMBER_FIELDS))
    if str(details.get("id")) != phone_number_id:
        raise Refused(400, "meta_read_failed", f"Meta answered for another number than "
                      f"{phone_number_id}: {RETRY['read']} Nothing was stored.", step="read")
    if _in_service_elsewhere(phone_number_id):
        raise Refused(409, "number_in_service_elsewhere", IN_SERVICE_ELSEWHERE,
                      field="phone_number_id")
    existing = WhatsAppNumber.objects.filter(phone_number_id=phone_number_id).first()
    pin = (existing.registration_pin if existing and existing.registration_pin
           else f"{secrets.randbelow(10**6):06d}")
    _step("subscribe", lambda: client.request("POST", waba_id, "subscribed_apps"))
    _step("register", lambda: client.request("POST", phone_number_id, "register", json={
        "messaging_product": "whatsapp", "pin": pin}))
    templates = _step("templates", lambda: fetch_account_templates(client, waba_id))
    return _store(existing, client.number, details, pin, templates)


def _store(existing: WhatsAppNumber | None, probe: WhatsAppNumber, details: dict[str, Any],
           pin: str, templates: list[dict[str, Any]]) -> WhatsAppNumber:
    """The number (new, or the organization's row of that id) verified, and its templates."""
    now = timezone.now()
    number = existing or probe
    number.whatsapp_business_account_id = probe.whatsapp_business_account_id
    number.access_token = probe.access_token
    number.registration_pin = pin
    number.display_number = str(details.get("display_phone_number") or "")[:50] or None
    number.verified_name = str(details.get("verified_name") or "")[:255] or None
    number.quality_rating = str(details.get("quality_rating") or "")[:20] or None
    number.is_active = True
    number.verification_status = Verification.VERIFIED
    number.verified_at = now
    number.verification_note = "Connected through Meta's Embedded Signup."
    number.created_at = number.created_at or now
    number.updated_at = now
    # Meta has just proved this token controls this id and account (the read step): verified.
    number._proved_for = number.proof_key()
    try:
        with transaction.atomic():
            number.save()
            store_account_templates(probe.whatsapp_business_account_id or "", templates)
    except IntegrityError:
        # Another organization verified the same id meanwhile (unique among verified rows).
        raise Refused(409, "number_in_service_elsewhere", IN_SERVICE_ELSEWHERE,
                      field="phone_number_id") from None
    return number
