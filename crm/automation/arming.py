"""Arming the delayed triggers: a message arms the rules waiting for the other side's answer and
cancels those the message itself answers. Due items are rows (automation_schedules), fired by
beat (crm.automation.delayed), never tasks held in a worker's memory.

- The customer writes: `no_agent_reply` rules are armed (their conditions checked against the
  message), the customer's pending `no_customer_reply` items are cancelled.
- We write (an agent, or a rule other than a follow-up): `no_customer_reply` rules are armed; an
  agent's message cancels the customer's pending `no_agent_reply` items (the bot's answer does
  not: the customer still waits for the team).
"""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from crm.automation import conditions
from crm.automation.inbound import Inbound
from crm.models import AutomationSchedule, Customer, Message, Organization

NO_AGENT_REPLY = "no_agent_reply"
NO_CUSTOMER_REPLY = "no_customer_reply"
PENDING = AutomationSchedule.State.PENDING


def _cancel(seen: Inbound, kind: str) -> None:
    """Cancel the customer's pending items of `kind` rules (inactive ones' too); no statement
    when the organization has no such rule."""
    rules = [rule.pk for rule in seen.rules_of(kind, active=False)]
    if rules:
        AutomationSchedule.objects.filter(
            customer=seen.customer, state=PENDING, rule__in=rules,
        ).update(state=AutomationSchedule.State.CANCELLED, updated_at=timezone.now())


def _arm(kind: str, seen: Inbound) -> None:
    """One pending item per active `kind` rule whose conditions hold for the message `seen`; a
    second arming by the same message (a redelivery, a retried task) is ignored by the unique
    key."""
    since = seen.message.timestamp or seen.now
    due = [AutomationSchedule(rule=rule, customer=seen.customer, message=seen.message,
                              due_at=since + timedelta(minutes=rule.trigger["minutes"]))
           for rule in seen.rules_of(kind) if conditions.hold(rule.conditions, seen)]
    if due:
        AutomationSchedule.objects.bulk_create(due, ignore_conflicts=True)


def after_inbound(inbound: Inbound) -> None:
    """The customer wrote: the follow-ups are answered, the team's reply is awaited."""
    _cancel(inbound, NO_CUSTOMER_REPLY)
    _arm(NO_AGENT_REPLY, inbound)


def after_outbound(message: Message, customer: Customer, answering: Inbound | None = None
                   ) -> None:
    """We wrote (sent, not failed): the customer's answer is awaited. `answering`: the
    automation run this message answers, whose organization and rules are reused."""
    rule = message.automation_rule
    if rule is not None and rule.trigger.get("type") == NO_CUSTOMER_REPLY:
        return  # a follow-up never arms follow-ups: two of them would answer each other forever
    if answering is not None and answering.organization.pk == customer.organization_id:
        seen = answering.of(message, customer, timezone.now())
    else:
        organization = Organization.objects.get(pk=customer.organization_id)
        seen = Inbound(message, customer, organization, timezone.now())
    if rule is None:
        _cancel(seen, NO_AGENT_REPLY)
    _arm(NO_CUSTOMER_REPLY, seen)
