"""Celery entry point of contact imports; runs as the organization that queued it (TenantTask)."""
from __future__ import annotations

from celery import shared_task

from crm.imports import services
from crm.models import ContactImport


@shared_task(name="crm.imports.tasks.run_import_job")
def run_import_job(import_id: str) -> str:
    """Run a queued import to its end; a deleted or finished one is left alone."""
    contact_import = ContactImport.objects.filter(
        pk=import_id, status__in=[ContactImport.Status.QUEUED, ContactImport.Status.RUNNING]
    ).first()
    if contact_import is None:
        return "gone"
    services.run_import(contact_import)
    return "done"
