"""Automation's writes: answer one inbound message by the organization's rules; pause a
conversation for a human.

`run_for_message` first hands the message to the customer's active flow session, if any
(crm.automation.flows); otherwise it decides under the customer's row lock which rules fire and
records each firing (automation_runs, unique per rule and message) before acting, so a
redelivered webhook or a retried task never answers twice; the actions (sending) run after that
commits, outside the lock.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from crm.automation import actions, arming, conditions, flows, triggers
from crm.automation.inbound import Inbound
from crm.inbox import events, services
from crm.models import AutomationRule, AutomationRun, Customer, Message, Organization
from crm.whatsapp.refusals import Refused
from crm.whatsapp.send import AGENT

INBOUND = "customer"  # messages.sender_type of what customers write
logger = logging.getLogger("crm.automation")


def left_to_people(customer: Customer, organization: Organization, now: datetime) -> bool:
    """Whether automation stays out of this conversation: paused, or an agent answered within
    the organization's grace period."""
    if customer.automation_paused_until is not None and customer.automation_paused_until > now:
        return True
    grace = timedelta(minutes=organization.agent_reply_grace_minutes)
    return grace > timedelta(0) and Message.objects.filter(
        customer=customer, sender_type=AGENT, automation_rule__isnull=True,
        timestamp__gt=now - grace,
    ).exists()


def record_firings(rules: list[AutomationRule], inbound: Inbound) -> list[AutomationRule]:
    """Insert the rules' runs for this message in one statement; those that had not fired for
    it yet (a concurrent run's insert waits for it, then is skipped by the unique key)."""
    if not rules:
        return []
    runs = [AutomationRun(rule=rule, message=inbound.message, customer=inbound.customer)
            for rule in rules]
    AutomationRun.objects.bulk_create(runs, ignore_conflicts=True)
    # The ids are made here, so a run found by one of them is one this call inserted.
    inserted = set(AutomationRun.objects.filter(pk__in=[run.pk for run in runs])
                   .values_list("rule_id", flat=True))
    return [rule for rule in rules if rule.pk in inserted]


def record_firing(rule: AutomationRule, inbound: Inbound) -> bool:
    """Insert the rule's run for this message; False if it already fired for it."""
    return bool(record_firings([rule], inbound))


def _decide(inbound: Inbound) -> list[AutomationRule]:
    """The rules that fire for this message now, recorded; in priority order."""
    firing = []
    for rule in inbound.rules:
        if not (conditions.hold(rule.conditions, inbound) and triggers.fires(rule, inbound)):
            continue
        firing.append(rule)
        if rule.stop_processing:
            break
    return record_firings(firing, inbound)


def perform_actions(rule: AutomationRule, inbound: Inbound) -> None:
    """Perform the rule's actions in order; the first refusal ends them, noted on the run."""
    outcome, error = AutomationRun.Outcome.DONE, None
    for action in rule.actions:
        try:
            actions.perform(rule, action, inbound)
        except Refused as refusal:
            outcome, error = AutomationRun.Outcome.REFUSED, f"{refusal.code}: {refusal}"
        except (ValidationError, services.NotAllowed) as problem:
            outcome, error = AutomationRun.Outcome.FAILED, str(problem)[:2000]
        if error is not None:
            logger.info("Automation rule %s stopped on message %s: %s", rule.pk,
                        inbound.message.pk, error)
            break
    AutomationRun.objects.filter(rule=rule, message=inbound.message).update(
        outcome=outcome, error=error)


def run_for_message(message_id: int) -> list[AutomationRule]:
    """Run the active organization's rules for one inbound message; return those that fired."""
    now = timezone.now()
    with transaction.atomic():
        # One statement reads the message with its organization and locks its customer's row
        # (automation never answers our own messages, nor one without a customer).
        message = (Message.objects.select_related("organization", "customer")
                   .select_for_update(of=("customer",))
                   .filter(pk=message_id, sender_type=INBOUND, customer__isnull=False).first())
        organization = message.organization if message is not None else None
        if organization is None or not organization.is_active:
            return []  # gone, or a suspended organization's: stored, never acted on
        customer = message.customer
        inbound = Inbound(message, customer, organization, now)
        arming.after_inbound(inbound)
        if left_to_people(customer, organization, now):
            return []
        # An active flow session takes the customer's reply before any rule sees it.
        plan = flows.answer(inbound)
        fired = _decide(inbound) if plan is None else []
    if plan is not None:
        flows.carry_out(plan, inbound)
    for rule in fired:
        perform_actions(rule, inbound)
    return fired


def pause(customer: Customer, until: datetime | None) -> None:
    """Pause automation in this conversation until `until` (None: resume it now)."""
    with transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(automation_paused_until=until)
        customer.automation_paused_until = until
        events.publish(events.CONVERSATION, customer=customer.pk)
