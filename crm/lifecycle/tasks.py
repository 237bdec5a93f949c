"""Celery entry points of organization exports: the job (run as the organization that queued it)
and beat's sweep of expired ones."""
from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from crm.lifecycle import exports
from crm.models import OrganizationExport


@shared_task(name="crm.lifecycle.tasks.run_export_job")
def run_export_job(export_id: str) -> str:
    """Write a queued export; one already running or finished is left alone."""
    export = OrganizationExport.objects.filter(
        pk=export_id, state=OrganizationExport.State.QUEUED).first()
    if export is None:
        return "gone"
    exports.run_export(export)
    return "done"


@shared_task(name="crm.lifecycle.tasks.sweep_expired_exports")
def sweep_expired_exports() -> int:
    """Beat: delete the zips of exports whose link expired, marking them expired; how many."""
    return exports.sweep_expired(timezone.now())
