"""A new lead, however made (a flow, the API, the admin), is announced to subscribers.

Leads are written one by one (no bulk writes make them), so a post_save receiver sees each.
"""
from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from crm.models import Lead
from crm.outgoing import payloads
from crm.outgoing.services import emit
from tenancy.context import tenant_context


@receiver(post_save, sender=Lead, dispatch_uid="crm.outgoing.lead_created")
def lead_created(sender: type[Lead], instance: Lead, created: bool, raw: bool = False,
                 **kwargs: Any) -> None:
    """Emit lead.created as the lead's organization (loaddata's raw saves are not new leads)."""
    if created and not raw and instance.organization_id is not None:
        with tenant_context(instance.organization_id):
            emit("lead.created", payloads.lead_created(instance))
