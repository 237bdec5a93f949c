"""The open conversation's orders in the inbox: what the thread shows of them, and the new-order
form's one line (the views are in crm.inbox.views; crm.orders and crm.payments do the work)."""
from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from crm.models import Customer, Order, Product
from crm.orders import services, states
from crm.whatsapp.refusals import Refused

SHOWN = 5  # the latest orders shown in a conversation
MAX_QUANTITY = 10_000
MAX_PRICE = Decimal("10000000")


def orders_context(customer: Customer) -> dict[str, Any]:
    """The customer's latest orders, and the catalog to make a new one from."""
    return {
        "orders": list(Order.objects.filter(customer=customer).order_by("-timestamp")[:SHOWN]),
        "products": list(Product.objects.order_by("name")[:100]),
        "payable": {states.PENDING, states.AWAITING_PAYMENT},
    }


def line_from_form(post: Any) -> services.Line:
    """One line from the form: a product, or a name and a unit price; Refused (400) naming the
    field otherwise."""
    quantity = post.get("quantity", "1")
    if not (quantity.isascii() and quantity.isdigit() and 0 < int(quantity) <= MAX_QUANTITY):
        raise Refused(400, "invalid", f"quantity: a whole number from 1 to {MAX_QUANTITY}.")
    if key := post.get("product", ""):
        try:
            product = Product.objects.filter(pk=uuid.UUID(key)).first()
        except ValueError:
            product = None
        if product is None:
            raise Refused(400, "invalid", "product: choose one of the catalog.")
        return services.Line(quantity=int(quantity), product=product)
    name = post.get("name", "").strip()
    try:
        price = Decimal(post.get("unit_price", ""))
    except InvalidOperation:
        price = Decimal("-1")
    if not name or len(name) > 255 or "\x00" in name:
        raise Refused(400, "invalid", "name: what is sold (up to 255 characters), or choose a "
                      "product.")
    if not (price.is_finite() and Decimal("0.01") <= price <= MAX_PRICE):
        raise Refused(400, "invalid", f"unit_price: an amount from 0.01 to {MAX_PRICE}.")
    return services.Line(quantity=int(quantity), name=name, unit_price=price)
