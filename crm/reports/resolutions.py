"""Recording a conversation's resolution, for the dashboard's resolution times.

A resolution runs from the conversation's opening customer message (the first one since its
previous resolution) to the moment it is set `resolved`, and belongs to the conversation's
assignee at that moment. Resolving a conversation the customer has not written in since its
previous resolution records nothing: there is no wait to measure.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Max, Min

from crm.models import ConversationResolution, Message


def record(customer_id: uuid.UUID, agent_id: uuid.UUID | None,
           at: datetime) -> ConversationResolution | None:
    """Record that the customer's conversation was resolved at `at`; None when it held no
    customer message since its previous resolution."""
    previous = ConversationResolution.objects.filter(customer_id=customer_id).aggregate(
        at=Max("resolved_at"))["at"]
    messages = Message.objects.filter(customer_id=customer_id, sender_type="customer",
                                      timestamp__lte=at)
    if previous is not None:
        messages = messages.filter(timestamp__gt=previous)
    opened = messages.aggregate(at=Min("timestamp"))["at"]
    if opened is None:
        return None
    return ConversationResolution.objects.create(
        customer_id=customer_id, agent_id=agent_id, opened_at=opened, resolved_at=at,
        seconds=int((at - opened).total_seconds()),
    )
