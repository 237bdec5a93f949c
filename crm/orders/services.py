"""Order writes: create one with its items (the total computed here, never taken from the
client), and change its state by the allowed moves only."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.inbox import events
from crm.models import Customer, CustomerAddress, Order, OrderItem, Product
from crm.orders import states
from crm.whatsapp.refusals import Refused

CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    """One checked line: a product of the catalog, or a free-form name and unit price."""

    quantity: int
    product: Product | None = None
    name: str | None = None
    unit_price: Decimal | None = None

    @property
    def price(self) -> Decimal:
        """The unit price: the product's catalog price, else the line's own."""
        if self.product is not None:
            return Decimal(str(self.product.price)).quantize(CENTS)
        assert self.unit_price is not None
        return self.unit_price.quantize(CENTS)


def create_order(customer: Customer, lines: list[Line], *, currency: str = "INR",
                 shipping_address: CustomerAddress | None = None) -> Order:
    """A pending order of `customer` with `lines`, its total the sum of price x quantity."""
    now = timezone.now()
    total = sum((line.price * line.quantity for line in lines), Decimal("0.00"))
    with transaction.atomic():
        order = Order.objects.create(customer=customer, status=states.PENDING, timestamp=now,
                                     total_amount=total, currency=currency, updated_at=now,
                                     shipping_address=shipping_address)
        OrderItem.objects.bulk_create([
            OrderItem(order=order, product=line.product, quantity=line.quantity,
                      name=line.name if line.product is None else line.product.name,
                      product_retailer_id=line.product.sku if line.product else None,
                      price=float(line.price), item_price=float(line.price),
                      total_price=float(line.price * line.quantity), currency=currency,
                      created_at=now)
            for line in lines
        ])
    return order


def set_status(order: Order, to: str, **changes: Any) -> Order:
    """Move `order` to `to` (Refused 409 when the move is not allowed), with `changes`."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        states.check_move(locked.status, to)
        now = timezone.now()
        if to == states.PAID and locked.payment_completed_at is None:
            changes.setdefault("payment_completed_at", now)
        for name, value in {"status": to, "updated_at": now, **changes}.items():
            setattr(locked, name, value)
        locked.save()
        if locked.customer_id is not None:  # the open inbox shows the order's new state
            events.publish(events.CONVERSATION, customers=[str(locked.customer_id)])
    return locked


def advance(order: Order, to: str, **changes: Any) -> bool:
    """Like set_status, but a move that is not allowed is skipped (events arrive in any order:
    a late "expired" never undoes "paid"); whether the order moved."""
    try:
        set_status(order, to, **changes)
    except Refused as refusal:
        if refusal.code == "illegal_transition":
            return False
        raise
    return True
