"""What the inbox changes: read markers and assignments, each announced live to the organization."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.inbox import events
from crm.models import Customer, Role, User
from crm.outgoing import emit, payloads
from crm.roles import role_of
from crm.whatsapp import reading


# Who a conversation can be assigned to.
ASSIGNABLE_ROLES = (Role.AGENT, Role.ORG_ADMIN)


class NotAllowed(Exception):
    """The user may not do this; the message says why."""


class InvalidAssignee(NotAllowed):
    """The chosen assignee cannot work this conversation; the message says who can."""


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


def check_assignment(customer: Customer, agent: User | None, *, by: Any) -> None:
    """Raise NotAllowed unless `by` may assign `customer` to `agent` (None: unassign).

    Agents may take an unassigned conversation or give up their own; ORG_ADMIN and platform
    staff assign freely. The assignee is staff (AGENT or ORG_ADMIN) of the customer's
    organization.
    """
    if role_of(by) == Role.AGENT:
        mine_or_free = customer.user_id in (None, by.pk)
        if not mine_or_free or (agent is not None and agent.pk != by.pk):
            raise NotAllowed("Agents take unassigned conversations or release their own.")
    if agent is not None and (
        agent.organization_id != customer.organization_id
        or role_of(agent) not in ASSIGNABLE_ROLES
    ):
        raise InvalidAssignee("Assign the conversation to an agent or administrator of its "
                              "organization.")


def assign(customer: Customer, agent: User | None, *, by: Any) -> None:
    """Assign the conversation to `agent` (None: unassign), as check_assignment allows."""
    check_assignment(customer, agent, by=by)
    # The previous and the new assignee hear of it even where they see only their own chats.
    concerned = sorted({str(pk) for pk in (customer.user_id, agent and agent.pk) if pk})
    previous = customer.user_id
    with transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(user=agent)
        customer.user = agent
        events.publish(events.CONVERSATION, customer=customer.pk, users=concerned)
        if previous != (agent and agent.pk):
            emit("conversation.assigned",
                 payloads.conversation_assigned(customer, agent, previous, by))


def agents() -> list[User]:
    """Staff of the active organization a conversation can be assigned to."""
    return list(User.objects.filter(role__name__in=ASSIGNABLE_ROLES).order_by("username"))
