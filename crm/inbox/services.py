"""What the inbox changes: read markers and assignments, each announced live to the organization."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.inbox import events
from crm.models import Customer, Role, User
from crm.roles import role_of
from crm.whatsapp import reading


class NotAllowed(Exception):
    """The user may not do this; the message says why."""


def mark_read(customer: Customer, at: datetime | None = None, *, receipt: bool = True) -> None:
    """Move the conversation's read marker to `at` (default: now); it never moves back.

    With `receipt`, the customer then sees blue ticks (crm.whatsapp.reading); a refusal from
    WhatsApp (Refused) is raised after the marker moved: the team has read it either way.
    """
    at = at or timezone.now()
    with transaction.atomic():
        moved = Customer.objects.filter(pk=customer.pk).filter(
            Q(last_read_at__isnull=True) | Q(last_read_at__lt=at)
        ).update(last_read_at=at)
        if moved:
            customer.last_read_at = at
            events.publish(events.CONVERSATION, customer=customer.pk)
    if receipt:
        reading.mark_read(customer)


def assign(customer: Customer, agent: User | None, *, by: Any) -> None:
    """Assign the conversation to `agent` (None: unassign).

    Agents may take an unassigned conversation or give up their own; ORG_ADMIN and platform
    staff assign freely. The agent must be staff of the organization (the tenant layer already
    hides other organizations' users).
    """
    if role_of(by) == Role.AGENT:
        mine_or_free = customer.user_id in (None, by.pk)
        if not mine_or_free or (agent is not None and agent.pk != by.pk):
            raise NotAllowed("Agents take unassigned conversations or release their own.")
    with transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(user=agent)
        customer.user = agent
        events.publish(events.CONVERSATION, customer=customer.pk)


def agents() -> list[User]:
    """Staff of the active organization a conversation can be assigned to."""
    return list(
        User.objects.filter(role__name__in=(Role.AGENT, Role.ORG_ADMIN)).order_by("username")
    )
