"""Meta's pricing of the messages we send, stored on each message from its status webhooks.

Meta prices a message per category (marketing, utility, authentication, service, ...); a status
carries `pricing` ({billable, pricing_model, category, type}) and, under conversation-based
pricing, `conversation` ({id, origin: {type}, expiration_timestamp}). A message is billable
under its category unless Meta says it is not (`billable: false`, or a free `type`).
"""
from __future__ import annotations

from typing import Any

from crm.models import Message

FREE_TYPES = frozenset({"free_customer_service", "free_entry_point"})


def billable_category(pricing: dict[str, Any] | None) -> str | None:
    """The category a message is billed under; None when Meta does not bill it."""
    if not pricing or pricing.get("billable") is False or pricing.get("type") in FREE_TYPES:
        return None
    category = pricing.get("category")
    return str(category)[:100] if category else None


def record_pricing(wamid: str, pricing: dict[str, Any] | None,
                   conversation: dict[str, Any] | None) -> int:
    """Keep the first pricing Meta reports for the active organization's message(s) `wamid`."""
    if pricing is None:
        return 0
    # Meta repeats the pricing on each status: the first one stays (one billing per message).
    return Message.objects.filter(message_id=wamid, pricing__isnull=True).update(
        pricing=pricing, conversation=conversation, billable_category=billable_category(pricing)
    )
