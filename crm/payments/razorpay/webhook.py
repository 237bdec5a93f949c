"""/webhooks/razorpay/<organization id>/: Razorpay's signed events for one organization.

The signature comes first: the X-Razorpay-Signature HMAC of the raw body, keyed with that
organization's webhook secret, compared in constant time; nothing is parsed or changed before it
matches. Then the event id (x-razorpay-event-id) makes a retried delivery a no-op, and the
event is applied inside that organization only (crm.payments.events).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.integrations import credentials
from crm.integrations.errors import IntegrationError
from crm.models import Organization
from crm.payments import events
from crm.payments.razorpay import PROVIDER
from crm.payments.services import confirm_paid
from crm.storable import unstorable
from tenancy.context import tenant_context

logger = logging.getLogger("crm.payments.razorpay")
EVENT_ID_LENGTH = 100


def signature_matches(body: bytes, header: str | None, secret: str) -> bool:
    """Whether `header` is the hex HMAC-SHA256 of the raw `body` keyed with `secret`."""
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    given = (header or "").strip().lower().encode("utf-8", "replace")
    return bool(secret) and hmac.compare_digest(given, expected.encode("utf-8"))


def _refused(reason: str) -> JsonResponse:
    logger.warning("Razorpay webhook refused: %s", reason)
    return JsonResponse({"error": "invalid signature"}, status=401)


def _organization(organization_id: str) -> Organization | None:
    try:
        key = uuid.UUID(organization_id)
    except ValueError:
        return None
    return Organization.objects.filter(pk=key, is_active=True).first()


@csrf_exempt  # Razorpay signs its deliveries; it has no CSRF token to send
@require_POST
def razorpay_webhook(request: HttpRequest, organization_id: str) -> HttpResponse:
    """Check the signature, then apply the event once in the organization of the URL."""
    organization = _organization(organization_id)
    if organization is None:
        return _refused("no active organization has the id in the URL")
    body = request.body  # the raw bytes: the signature covers them, not a re-encoding
    with tenant_context(organization):
        account = credentials.load(PROVIDER)
        try:
            secret = account.secret("webhook_secret") if account else ""
        except IntegrationError:
            secret = ""
        if not signature_matches(body, request.headers.get("X-Razorpay-Signature"), secret):
            return _refused("Razorpay is not configured for the organization" if not secret
                            else "missing or wrong X-Razorpay-Signature")
        event_id = request.headers.get("x-razorpay-event-id", "")
        if not event_id or len(event_id) > EVENT_ID_LENGTH or unstorable(event_id):
            return JsonResponse({"error": "missing or malformed x-razorpay-event-id"},
                                status=400)
        try:
            event = json.loads(body)
        except (ValueError, RecursionError):
            return JsonResponse({"error": "the body is not JSON"}, status=400)
        where = unstorable(event) if isinstance(event, dict) else "$"
        if where is not None:
            return JsonResponse({"error": f"malformed event at {where}"}, status=400)
        outcome = events.handle_event(event_id, event)
        if outcome.paid is not None:
            confirm_paid(outcome.paid)
    return JsonResponse({"status": outcome.text})
