"""Celery entry point of Zoho pushes: each runs as the organization that queued it, retried with
back-off while Zoho is down or busy."""
from __future__ import annotations

import random

from celery import Task, shared_task
from django.conf import settings
from django.db import transaction

from crm.models import Lead
from crm.zoho import services
from crm.zoho.errors import AlreadyPushed, ZohoError
from tenancy.context import get_current_organization_id, tenant_context


def backoff(retries: int) -> float:
    """Seconds before retry number `retries` + 1: doubling from ZOHO_RETRY_BACKOFF, jittered."""
    first = float(settings.ZOHO_RETRY_BACKOFF)
    return first * 2 ** retries * random.uniform(0.8, 1.2)


@shared_task(name="crm.zoho.tasks.push_lead", bind=True)
def push_lead(self: Task, lead_id: str) -> str:
    """Push one lead to Zoho; the outcome (pushed, or the refusal's name)."""
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        return "gone"  # deleted, or not this organization's
    try:
        services.push_lead(lead)
    except AlreadyPushed:
        return "pushed"
    except ZohoError as error:
        if not error.retryable:
            return type(error).__name__
        if self.request.retries >= settings.ZOHO_PUSH_RETRIES:
            services.give_up(lead_id, error)
            return "gave up"
        raise self.retry(countdown=backoff(self.request.retries),
                         max_retries=settings.ZOHO_PUSH_RETRIES) from None
    return "pushed"


def push_after_commit(lead_id: str) -> None:
    """Queue the push once the transaction storing the lead commits (the task finds it)."""
    organization_id = get_current_organization_id()
    assert organization_id is not None, "push_after_commit() runs inside tenant_context()"

    def queue() -> None:
        # An outer transaction may commit after the organization's context ended.
        with tenant_context(organization_id):
            push_lead.delay(lead_id)

    transaction.on_commit(queue, robust=True)
