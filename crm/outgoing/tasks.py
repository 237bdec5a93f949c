"""Celery entry points of outgoing webhooks: each runs as the organization that queued it."""
from __future__ import annotations

import uuid
from collections.abc import Iterable

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from crm.outgoing import services
from tenancy.context import get_current_organization_id, tenant_context


@shared_task(name="crm.outgoing.tasks.deliver")
def deliver(delivery_id: str) -> str:
    """Make one attempt of a delivery; queue its retry (after the back-off) when it failed."""
    retry = services.attempt(delivery_id)
    if retry is None:
        return "done"
    wait = max(0.0, (retry.next_try_at - timezone.now()).total_seconds())
    deliver.apply_async((str(retry.pk),), countdown=wait)
    return "retry"


def queue_after_commit(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Queue an attempt per delivery once the transaction that made them commits."""
    ids = [str(pk) for pk in delivery_ids]
    organization_id = get_current_organization_id()
    assert organization_id is not None, "queue_after_commit() runs inside tenant_context()"

    def queue() -> None:
        # An outer transaction may commit after the emitting organization's context ended.
        with tenant_context(organization_id):
            for delivery_id in ids:
                deliver.delay(delivery_id)

    transaction.on_commit(queue, robust=True)
