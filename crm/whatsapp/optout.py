"""Marketing opt-out: an inbound "STOP" (or Meta's 131050) opts a customer out, "START" back in."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from crm.models import Customer, Message, Template
from crm.webhooks.payload import InboundMessage

STOP, START = "STOP", "START"
MARKETING = "MARKETING"


def keyword(text: str | None) -> str | None:
    """STOP or START when a text message is just that word (any case, spaces around)."""
    word = (text or "").strip().upper()
    return word if word in (STOP, START) else None


def opt_out(customer_ids: Iterable[uuid.UUID], at: datetime | None = None) -> int:
    """Mark these customers opted out of marketing (the first opt-out's time is kept)."""
    return Customer.objects.filter(pk__in=list(customer_ids), marketing_opt_out_at=None).update(
        marketing_opt_out_at=at or timezone.now()
    )


def opt_in(customer_ids: Iterable[uuid.UUID]) -> int:
    """Let these customers receive marketing again."""
    return Customer.objects.filter(pk__in=list(customer_ids)).exclude(
        marketing_opt_out_at=None
    ).update(marketing_opt_out_at=None)


def apply_keywords(messages: Sequence[InboundMessage], customers: Mapping[str, Customer]) -> None:
    """Opt customers out or in by the latest STOP/START each sent in these stored messages."""
    latest: dict[str, InboundMessage] = {}
    for message in messages:
        if message.type == "text" and message.content is not None and keyword(
            message.content.body
        ):
            seen = latest.get(message.from_wa_id)
            if seen is None or message.timestamp >= seen.timestamp:
                latest[message.from_wa_id] = message
    stops = {m.from_wa_id: m.timestamp for m in latest.values()
             if keyword(m.content.body if m.content else None) == STOP}
    starts = [customers[wa_id].pk for wa_id in latest if wa_id not in stops]
    for wa_id, at in stops.items():
        opt_out([customers[wa_id].pk], at)
    if starts:
        opt_in(starts)


def opt_out_recipient_of(wamid: str, at: datetime | None = None) -> int:
    """Opt out the customer a message was sent to (Meta answered 131050 for it)."""
    customers = Message.objects.filter(message_id=wamid).exclude(customer=None)
    return opt_out(customers.values_list("customer_id", flat=True), at)


def template_category(name: str, language: str | None = None) -> str | None:
    """The category (MARKETING, UTILITY, AUTHENTICATION) of a template, when it is known.

    The organization's own template wins over a shared one of the same name; the category is
    read from its `category` column where there is one, else from the stored template body.
    """
    rows = Template.objects.filter(template_name=name)
    fields = {f.name for f in Template._meta.concrete_fields}
    if language and "language" in fields:
        rows = rows.filter(Q(language=language) | Q(language=None))
    for row in sorted(rows, key=lambda t: t.organization_id is None):
        category = getattr(row, "category", None)
        if not category and isinstance(row.template_body, dict):
            category = row.template_body.get("category")
        if category:
            return str(category).upper()
    return None
