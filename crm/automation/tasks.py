"""Celery entry point of automation: each task runs as the organization that queued it."""
from __future__ import annotations

from collections.abc import Iterable

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from crm.automation import delayed, services
from tenancy.context import get_current_organization_id, tenant_context


@shared_task(name="crm.automation.tasks.run_automation")
def run_automation(message_id: int) -> int:
    """Answer one inbound message by the organization's rules; return how many fired."""
    return len(services.run_for_message(message_id))


@shared_task(name="crm.automation.tasks.fire_due_schedules")
def fire_due_schedules() -> int:
    """Beat: fire (or cancel, re-checked) the delayed triggers that are due; return how many
    fired."""
    return delayed.fire_due(timezone.now())


def queue_after_commit(message_ids: Iterable[int]) -> None:
    """Queue a run per inbound message once the transaction storing them commits (the webhook
    stays quick, and the task never looks for a row not yet visible)."""
    ids = list(message_ids)
    organization_id = get_current_organization_id()
    assert organization_id is not None, "queue_after_commit() runs inside tenant_context()"

    def queue() -> None:
        # An outer transaction may commit after the storing organization's context ended.
        with tenant_context(organization_id):
            for message_id in ids:
                run_automation.delay(message_id)

    transaction.on_commit(queue, robust=True)
