"""Apply what Razorpay says happened (a webhook event, or a link read back by reconciliation) to
`payments`, `payment_transactions` and the order, forward only: events arrive in any order and
more than once, and a late "expired" never undoes "paid".

Every lookup goes through the current organization's scoped managers (the organization of the
webhook's URL), so an event naming another organization's link, payment or order finds nothing
and changes nothing.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Order, Payment, PaymentEvent, PaymentTransaction
from crm.orders import services as orders
from crm.orders import states
from crm.payments.razorpay import PROVIDER

logger = logging.getLogger("crm.payments")


@dataclass(frozen=True)
class Outcome:
    """What an event did: a word for the log, the order it touched, a payment to confirm."""

    text: str
    order: Order | None = None
    paid: Payment | None = None


def _entity(payload: Any, kind: str) -> dict[str, Any]:
    wrapper = payload.get(kind) if isinstance(payload, dict) else None
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else {}


def _text(value: Any, length: int) -> str:
    return str(value)[:length] if value is not None else ""


def record_transaction(order: Order, entity: dict[str, Any], status: str) -> None:
    """Keep Razorpay's payment (or refund) `entity` as the order's transaction, by its id."""
    now = timezone.now()
    amount = entity.get("amount")
    values = {"order": order, "status": status, "payment_gateway": PROVIDER,
              "payment_method": _text(entity.get("method") or "unknown", 50),
              "amount": amount / 100 if isinstance(amount, (int, float)) else 0.0,
              "currency": _text(entity.get("currency") or "INR", 3),
              "gateway_transaction_id": _text(entity.get("id"), 100),
              "gateway_response": entity, "updated_at": now}
    PaymentTransaction.objects.update_or_create(
        transaction_id=_text(entity.get("id"), 100), defaults=values,
        create_defaults={**values, "created_at": now})


def mark_paid(row: Payment, payment: dict[str, Any]) -> Outcome:
    """The link `row` was paid (with Razorpay's `payment` entity, when known)."""
    order = Order.objects.get(pk=row.order_id)
    if row.status != "paid":
        Payment.objects.filter(pk=row.pk).update(status="paid", updated_at=timezone.now())
    if payment.get("id"):
        record_transaction(order, payment, "captured")
    orders.advance(order, states.PAID)
    return Outcome("paid", order, row)


def mark_closed(row: Payment, status: str) -> Outcome:
    """The link `row` expired or was cancelled unpaid: the order waits for a new link."""
    order = Order.objects.get(pk=row.order_id)
    if row.status != "created":
        return Outcome(f"ignored: the link is already {row.status}", order)
    Payment.objects.filter(pk=row.pk).update(status=status, updated_at=timezone.now())
    if not Payment.objects.filter(order=order, status="created").exists():
        orders.advance(order, states.PENDING)
    return Outcome(status, order)


def _link(payload: Any) -> Payment | None:
    link_id = _entity(payload, "payment_link").get("id")
    if not isinstance(link_id, str) or not link_id:
        return None
    return Payment.objects.filter(razorpay_id=link_id[:100]).first()


def _order_of_payment(payment: dict[str, Any]) -> Order | None:
    """The order of Razorpay's payment: by a transaction already kept, else by our notes."""
    known = PaymentTransaction.objects.filter(
        transaction_id=_text(payment.get("id"), 100)).values_list("order_id", flat=True).first()
    notes = payment.get("notes")
    key = known or (notes.get("order") if isinstance(notes, dict) else None)
    try:
        return Order.objects.filter(pk=uuid.UUID(str(key))).first() if key else None
    except ValueError:
        return None


def _link_paid(payload: Any) -> Outcome:
    row = _link(payload)
    if row is None:
        return Outcome("ignored: no payment link of this organization has this id")
    return mark_paid(row, _entity(payload, "payment"))


def _link_closer(status: str) -> Callable[[Any], Outcome]:
    def close(payload: Any) -> Outcome:
        row = _link(payload)
        if row is None:
            return Outcome("ignored: no payment link of this organization has this id")
        return mark_closed(row, status)
    return close


def _payment_captured(payload: Any) -> Outcome:
    payment = _entity(payload, "payment")
    order = _order_of_payment(payment)
    if order is None:
        return Outcome("ignored: no order of this organization has this payment")
    row = Payment.objects.filter(order=order).exclude(status__in=["expired", "cancelled"]).first()
    if row is not None:
        return mark_paid(row, payment)
    record_transaction(order, payment, "captured")
    orders.advance(order, states.PAID)
    return Outcome("paid", order)


def _payment_failed(payload: Any) -> Outcome:
    payment = _entity(payload, "payment")
    order = _order_of_payment(payment)
    if order is None:
        return Outcome("ignored: no order of this organization has this payment")
    record_transaction(order, payment, "failed")
    return Outcome("payment failed", order)


def _refund_processed(payload: Any) -> Outcome:
    refund = _entity(payload, "refund")
    order = _order_of_payment({"id": refund.get("payment_id")})
    if order is None:
        return Outcome("ignored: no order of this organization has this payment")
    record_transaction(order, {**refund, "method": "refund"}, "refunded")
    Payment.objects.filter(order=order, status="paid").update(status="refunded",
                                                              updated_at=timezone.now())
    orders.advance(order, states.REFUNDED)
    return Outcome("refunded", order)


HANDLERS: dict[str, Callable[[Any], Outcome]] = {
    "payment_link.paid": _link_paid,
    "payment_link.expired": _link_closer("expired"),
    "payment_link.cancelled": _link_closer("cancelled"),
    "payment.captured": _payment_captured,
    "payment.failed": _payment_failed,
    "refund.processed": _refund_processed,
}


def handle_event(event_id: str, body: dict[str, Any]) -> Outcome:
    """Apply one webhook event once: a second delivery of `event_id` is "duplicate"."""
    name = _text(body.get("event"), 100)
    handler = HANDLERS.get(name)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = PaymentEvent.objects.create(provider=PROVIDER, event_id=event_id,
                                                     event=name, outcome="", payload=body)
        except IntegrityError:
            return Outcome("duplicate")
        if handler is None:
            logger.info("razorpay event %r (%s) ignored: not one we handle", name, event_id)
            outcome = Outcome("ignored: not an event this app handles")
        else:
            outcome = handler(body.get("payload"))
        record.outcome, record.order = outcome.text, outcome.order
        record.save(update_fields=["outcome", "order"])
    logger.info("razorpay event %s (%s): %s", name, event_id, outcome.text)
    return outcome
