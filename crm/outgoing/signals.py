"""A new lead, however made (a flow, the API, the admin), is announced to subscribers; a saved or
deleted subscription renews its organization's cached answer (crm.outgoing.subscribers).

Leads and subscriptions are made one by one (no bulk writes make them, and the bulk updates of
subscriptions only turn them off), so a receiver sees each that matters.
"""
from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from crm.models import Lead, WebhookSubscription
from crm.outgoing import payloads, subscribers
from crm.outgoing.services import emit
from tenancy.context import tenant_context


@receiver(post_save, sender=Lead, dispatch_uid="crm.outgoing.lead_created")
def lead_created(sender: type[Lead], instance: Lead, created: bool, raw: bool = False,
                 **kwargs: Any) -> None:
    """Emit lead.created as the lead's organization (loaddata's raw saves are not new leads)."""
    if created and not raw and instance.organization_id is not None:
        with tenant_context(instance.organization_id):
            emit("lead.created", payloads.lead_created(instance))


@receiver(post_save, sender=WebhookSubscription, dispatch_uid="crm.outgoing.subscription_saved")
@receiver(post_delete, sender=WebhookSubscription,
          dispatch_uid="crm.outgoing.subscription_deleted")
def subscription_changed(sender: type[WebhookSubscription], instance: WebhookSubscription,
                         **kwargs: Any) -> None:
    """Events of its organization read the subscriptions again (after this commits)."""
    subscribers.changed(instance.organization_id)
