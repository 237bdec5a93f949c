"""Celery entry point of automation: each task runs as the organization that queued it."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from crm.automation import delayed, services
from tenancy.context import get_current_organization_id, tenant_context

logger = logging.getLogger("crm.automation")


# Inbound messages per task: publishing a task costs about as much as storing a message, so a
# batch of stored messages is queued a few tasks at a time, still spread over the workers.
MESSAGES_PER_TASK = 10


@shared_task(name="crm.automation.tasks.run_automation")
def run_automation(message_ids: list[int]) -> int:
    """Answer inbound messages, in order, by the organization's rules; return how many fired.

    One message failing does not keep the others from their answers; the first error is raised
    once all were tried (the task shows as failed).
    """
    fired, failure = 0, None
    for message_id in message_ids:
        try:
            fired += len(services.run_for_message(message_id))
        except Exception as error:  # noqa: BLE001  (raised below, after the others)
            logger.exception("Automation failed for message %s", message_id)
            failure = failure or error
    if failure is not None:
        raise failure
    return fired


@shared_task(name="crm.automation.tasks.fire_due_schedules")
def fire_due_schedules() -> int:
    """Beat: fire (or cancel, re-checked) the delayed triggers that are due; return how many
    fired."""
    return delayed.fire_due(timezone.now())


def queue_after_commit(message_ids: Iterable[int]) -> None:
    """Queue runs for inbound messages once the transaction storing them commits (the webhook
    stays quick, and the task never looks for a row not yet visible)."""
    ids = list(message_ids)
    organization_id = get_current_organization_id()
    assert organization_id is not None, "queue_after_commit() runs inside tenant_context()"

    def queue() -> None:
        # An outer transaction may commit after the storing organization's context ended.
        with tenant_context(organization_id):
            for start in range(0, len(ids), MESSAGES_PER_TASK):
                run_automation.delay(ids[start:start + MESSAGES_PER_TASK])

    transaction.on_commit(queue, robust=True)
