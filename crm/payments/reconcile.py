"""Lost webhooks: beat asks Razorpay about payment links still open an hour after sending and
again once they expired, and applies what it finds like the webhook would (crm.payments.events).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q

from crm.integrations import credentials
from crm.models import Payment
from crm.payments import events
from crm.payments.razorpay import PROVIDER
from crm.payments.razorpay.client import RazorpayClient
from crm.payments.razorpay.errors import AuthenticationFailed, NotFound, RazorpayError
from crm.payments.services import confirm_paid
from tenancy.context import tenant_context, unscoped

logger = logging.getLogger("crm.payments")
BATCH = 200


def due(now: datetime, batch: int = BATCH) -> list[tuple[Any, Any]]:
    """(organization id, payment id) of open links to ask about: an hour old and never asked,
    or expired and not asked since."""
    hour = now - timedelta(minutes=int(settings.RAZORPAY_RECONCILE_AFTER_MINUTES))
    first = Q(created_at__lte=hour, checked_at__isnull=True)
    expired = Q(expires_at__lte=now) & (Q(checked_at__isnull=True)
                                        | Q(checked_at__lt=F("expires_at")))
    # Beat serves every organization: it only lists keys here, and each link is then read and
    # changed inside its own organization.
    with unscoped():
        return list(Payment.objects.filter(status="created", razorpay_id__isnull=False)
                    .filter(first | expired).order_by("created_at")
                    .values_list("organization_id", "pk")[:batch])


def reconcile_one(payment_id: Any, now: datetime) -> str:
    """Ask Razorpay about one link of the current organization and apply its state."""
    row = Payment.objects.filter(pk=payment_id).first()
    account = credentials.load(PROVIDER)
    if row is None or account is None:
        Payment.objects.filter(pk=payment_id).update(checked_at=now)
        return "not configured"
    try:
        link = RazorpayClient(account).fetch_payment_link(row.razorpay_id or "")
    except AuthenticationFailed as error:
        credentials.mark_broken(PROVIDER, str(error))
        return "credentials refused"
    except NotFound:
        # Never a link of this account (a hand-made row): asking again would not change that.
        Payment.objects.filter(pk=payment_id).update(checked_at=now)
        return "unknown to Razorpay"
    except RazorpayError as error:
        logger.warning("reconciling payment %s: %s", payment_id, error)
        return "no answer"  # not marked checked: the next beat asks again
    Payment.objects.filter(pk=payment_id).update(checked_at=now)
    status = link.get("status")
    if status == "paid":
        paid = [p for p in link.get("payments") or [] if isinstance(p, dict)]
        payment = paid[-1] if paid else {}
        outcome = events.mark_paid(row, {"id": payment.get("payment_id"), "entity": "payment",
                                         "amount": payment.get("amount"),
                                         "method": payment.get("method"),
                                         "currency": link.get("currency")})
        confirm_paid(row)
        return outcome.text
    if status in ("expired", "cancelled"):
        return events.mark_closed(row, status).text
    return f"still {status}"


def reconcile(now: datetime) -> int:
    """Reconcile every due link, each inside its organization; how many were asked about."""
    asked = 0
    for organization_id, payment_id in due(now):
        with tenant_context(organization_id):
            reconcile_one(payment_id, now)
        asked += 1
    return asked
