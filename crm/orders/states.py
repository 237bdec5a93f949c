"""An order's states and the moves between them: the API, the inbox, the webhook and
reconciliation all go through `check_move`, so no path reaches a state another path forbids.

    pending -> awaiting_payment -> paid -> fulfilled
    pending / awaiting_payment -> cancelled;  paid / fulfilled -> refunded
    awaiting_payment -> pending (every link expired or was cancelled: send a new one)

Inbound WhatsApp carts start `pending` too (crm.webhooks.store).
"""
from __future__ import annotations

from crm.whatsapp.refusals import Refused

PENDING, AWAITING_PAYMENT, PAID, FULFILLED = "pending", "awaiting_payment", "paid", "fulfilled"
CANCELLED, REFUNDED = "cancelled", "refunded"
STATES = (PENDING, AWAITING_PAYMENT, PAID, FULFILLED, CANCELLED, REFUNDED)
MOVES: dict[str, frozenset[str]] = {
    PENDING: frozenset({AWAITING_PAYMENT, PAID, CANCELLED}),
    AWAITING_PAYMENT: frozenset({PENDING, PAID, CANCELLED}),
    PAID: frozenset({FULFILLED, REFUNDED}),
    FULFILLED: frozenset({REFUNDED}),
    CANCELLED: frozenset(),
    REFUNDED: frozenset(),
}
# Paid, or past it: a payment link would charge the customer twice.
SETTLED = frozenset({PAID, FULFILLED, REFUNDED})


def current(status: str | None) -> str:
    """An order's state; wb-crm's rows without one are pending."""
    return status if status in MOVES else PENDING


def may_move(status: str | None, to: str) -> bool:
    """Whether an order in `status` may become `to`."""
    return to in MOVES[current(status)]


def check_move(status: str | None, to: str) -> None:
    """Refused (409) unless an order in `status` may become `to`."""
    if to not in MOVES:
        raise Refused(400, "unknown_status", f"Unknown status: use one of {', '.join(STATES)}.",
                      field="status")
    if not may_move(status, to):
        allowed = ", ".join(sorted(MOVES[current(status)])) or "none: it is final"
        raise Refused(409, "illegal_transition",
                      f"An order that is {current(status)} cannot become {to}; allowed: "
                      f"{allowed}.", current_status=current(status))
