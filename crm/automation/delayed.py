"""Firing the delayed triggers: beat claims due items (automation_schedules) of every
organization in batches, re-checks each as its own organization, and fires or cancels it.

An item fires only if, at that moment, its rule is still active and of the same kind, the
conversation is not paused, and the side it waits for has not written since the message that
armed it (`no_agent_reply`: an agent, not the bot; `no_customer_reply`: the customer). Firing is
recorded like an immediate trigger's (automation_runs, once per rule and arming message) and
acts through the same actions, after the claim commits.
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction

from crm.automation import services
from crm.automation.arming import NO_AGENT_REPLY, NO_CUSTOMER_REPLY
from crm.automation.inbound import Inbound
from crm.models import AutomationRule, AutomationSchedule, Message, Organization
from crm.whatsapp.send import AGENT
from tenancy.context import tenant_context, unscoped

BATCH = 100
State = AutomationSchedule.State


def _answered(schedule: AutomationSchedule, kind: str) -> bool:
    """Whether the side this item waits for wrote after the message that armed it."""
    since = Message.objects.filter(customer_id=schedule.customer_id, pk__gt=schedule.message_id)
    if kind == NO_AGENT_REPLY:
        return since.filter(sender_type=AGENT, automation_rule__isnull=True).exists()
    return since.filter(sender_type=services.INBOUND).exists()


def _settle(schedule_id: str, now: datetime) -> tuple[AutomationRule, Inbound] | None:
    """Fire or cancel one claimed item (the active organization's); what to act on, if fired."""
    schedule = (AutomationSchedule.objects.select_related("rule", "customer", "message")
                .get(pk=schedule_id))
    rule, customer = schedule.rule, schedule.customer
    kind = NO_AGENT_REPLY if schedule.message.sender_type == services.INBOUND else NO_CUSTOMER_REPLY
    paused = (customer.automation_paused_until is not None
              and customer.automation_paused_until > now)
    fires = (rule.is_active and rule.trigger.get("type") == kind and not paused
             and not _answered(schedule, kind))
    AutomationSchedule.objects.filter(pk=schedule.pk).update(
        state=State.FIRED if fires else State.CANCELLED, updated_at=now)
    if not fires:
        return None
    organization = Organization.objects.get(pk=schedule.organization_id)
    inbound = Inbound(schedule.message, customer, organization, now)
    return (rule, inbound) if services.record_firing(rule, inbound) else None


def _claim(now: datetime, batch: int) -> tuple[int, list[tuple[str, AutomationRule, Inbound]]]:
    """Settle up to `batch` due items; how many were claimed, and those that fired."""
    fired = []
    with transaction.atomic():
        # Beat serves every organization, so it looks across them on purpose; SKIP LOCKED lets
        # concurrent claimers split the due rows instead of taking the same ones.
        with unscoped():
            due = list(AutomationSchedule.objects.select_for_update(skip_locked=True)
                       .filter(state=State.PENDING, due_at__lte=now).order_by("due_at")
                       .values_list("pk", "organization_id")[:batch])
        for schedule_id, organization_id in due:
            with tenant_context(organization_id):
                settled = _settle(schedule_id, now)
            if settled is not None:
                fired.append((organization_id, *settled))
    return len(due), fired


def fire_due(now: datetime, batch: int = BATCH) -> int:
    """Fire or cancel every item due at `now`; return how many fired."""
    fired = 0
    while True:
        claimed, to_act = _claim(now, batch)
        for organization_id, rule, inbound in to_act:
            with tenant_context(organization_id):
                services.perform_actions(rule, inbound)
        fired += len(to_act)
        if claimed < batch:
            return fired
