"""Payment writes: create an order's Razorpay payment link and send it on WhatsApp, and tell
the customer once when the order is paid.

The link goes through `send_message`: a text inside the 24-hour window, outside it the template
the organization chose for payment links (`payment_link_template` in its Razorpay settings),
with the link as the body's one parameter.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.integrations import credentials
from crm.integrations.errors import NotConfigured
from crm.models import Message, Order, Payment, User
from crm.orders import services as orders
from crm.orders import states
from crm.payments.razorpay import PROVIDER
from crm.payments.razorpay.client import RazorpayClient
from crm.payments.razorpay.errors import AuthenticationFailed, RazorpayError
from crm.whatsapp.numbers import last_inbound
from crm.whatsapp.refusals import Refused
from crm.whatsapp.send import send_message, window_closes_at

logger = logging.getLogger("crm.payments")


def paise(amount: Decimal) -> int:
    """An amount in rupees as Razorpay's integer paise."""
    return int((amount * 100).to_integral_value())


def _check_payable(order: Order) -> Decimal:
    status = states.current(order.status)
    if status in states.SETTLED:
        raise Refused(409, "already_paid", f"This order is already {status}: nothing to pay.")
    if status == states.CANCELLED:
        raise Refused(409, "cancelled", "This order was cancelled: create a new order.")
    if order.customer is None:
        raise Refused(400, "no_customer", "This order has no customer to send the link to.")
    total = order.total_amount or Decimal("0")
    if total < 1:
        raise Refused(400, "amount_too_small", "Razorpay takes at least INR 1.00: add priced "
                      "items to the order first.")
    return total


def _link_message(order: Order, url: str, template: str | None, language: str) -> dict:
    """A text inside the window; the chosen template (link as its parameter) outside it."""
    assert order.customer is not None
    closes = window_closes_at(order.customer, last_inbound(order.customer))
    if closes is not None and closes > timezone.now():
        amount = f"{order.currency or 'INR'} {order.total_amount:.2f}"
        return {"type": "text", "text": {"body": f"Please pay {amount} for your order: {url}",
                                         "preview_url": True}}
    if not template:
        raise Refused(409, "outside_window",
                      "The customer has not written in 24 hours, so only a template can carry "
                      "the link: choose one as payment_link_template in the Razorpay settings "
                      "(PUT /api/v1/integrations/razorpay/), or wait until the customer writes.")
    return {"type": "template", "template": {
        "name": template, "language": {"code": language},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": url}]}]}}


@dataclass(frozen=True)
class LinkSent:
    """A payment link made and stored; the message carrying it, or why it could not be sent."""

    payment: Payment
    message: Message | None
    refusal: Refused | None


def send_payment_link(order: Order, *, user: User | None = None) -> LinkSent:
    """Create `order`'s payment link on the organization's Razorpay account, store it in
    `payments`, mark the order awaiting payment and send the link. Refused before any link is
    made (not configured, paid, outside the window without a template, Razorpay's refusal)."""
    total = _check_payable(order)
    account = credentials.load(PROVIDER)
    if account is None:
        raise Refused(400, "not_configured", str(NotConfigured(PROVIDER)))
    template = account.config.get("payment_link_template")
    language = account.config.get("payment_link_template_language") or "en_US"
    _link_message(order, "", template, language)  # refuse before creating a link nobody gets
    customer = order.customer
    assert customer is not None
    now = timezone.now()
    expires = now + timedelta(minutes=int(settings.RAZORPAY_LINK_EXPIRE_MINUTES))
    attempt = Payment.objects.filter(order=order).count() + 1
    try:
        link = RazorpayClient(account).create_payment_link({
            "amount": paise(total), "currency": order.currency or "INR",
            "reference_id": f"{order.pk.hex}-{attempt}", "description": f"Order {order.pk}"[:80],
            "customer": {"name": (customer.name or "")[:100], "contact": f"+{customer.wa_id}"},
            "notify": {"sms": False, "email": False}, "reminder_enable": False,
            "expire_by": int(expires.timestamp()),
            "notes": {"organization": str(order.organization_id), "order": str(order.pk)},
        })
    except AuthenticationFailed as error:
        credentials.mark_broken(PROVIDER, str(error))
        raise Refused(502, "razorpay_error", str(error)) from None
    except RazorpayError as error:
        raise Refused(502, "razorpay_error", str(error)) from None
    with transaction.atomic():
        payment = Payment.objects.create(
            order=order, amount=float(total), currency=order.currency or "INR",
            razorpay_id=str(link.get("id", ""))[:100], status="created",
            razorpay_short_url=str(link.get("short_url", ""))[:500], notification_sent=False,
            created_at=now, updated_at=now, expires_at=expires)
        orders.advance(order, states.AWAITING_PAYMENT)
    content = _link_message(order, payment.razorpay_short_url or "", template, language)
    try:
        return LinkSent(payment, send_message(customer, content, user=user), None)
    except Refused as refusal:  # the link exists: the agent may resend it or share it otherwise
        return LinkSent(payment, None, refusal)


def confirm_paid(payment: Payment) -> Message | None:
    """Tell the customer once that `payment` arrived (`notification_sent` claims it first, so
    a retried event or a reconciliation never sends a second one); None when not sent."""
    claimed = Payment.objects.filter(pk=payment.pk, notification_sent=False).update(
        notification_sent=True, updated_at=timezone.now())
    order = Order.objects.select_related("customer").filter(pk=payment.order_id).first()
    if not claimed or order is None or order.customer is None:
        return None
    body = (f"Thank you! We received your payment of {payment.currency} {payment.amount:.2f} "
            f"for order {str(order.pk)[:8]}.")
    try:
        return send_message(order.customer, {"type": "text", "text": {"body": body}})
    except Refused as refusal:
        logger.warning("payment confirmation for order %s not sent: %s", order.pk, refusal.code)
        return None
