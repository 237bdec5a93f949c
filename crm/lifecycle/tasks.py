"""Celery entry point of organization exports; runs as the organization that queued it."""
from __future__ import annotations

from celery import shared_task

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
