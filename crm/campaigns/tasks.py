"""Celery tasks of campaign sending. Each runs as the organization that queued it (TenantTask).

Fairness: a chunk sends for a few seconds at most, then queues its successor at the back of the
queue, so the chunks of every running campaign (of every organization) take turns.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from crm.campaigns import services
from crm.campaigns.errors import CampaignActionError
from crm.campaigns.sending import ChunkEnd, run_chunk
from crm.models import Campaign, Job, WhatsAppNumber
from tenancy.context import tenant_context, unscoped

WAIT_SECONDS = 2.0
logger = logging.getLogger("crm.campaigns")


@shared_task(name="crm.campaigns.tasks.send_chunk")
def send_chunk(job_id: str, number_id: str) -> str:
    """Send a chunk of the job from the number, then queue the next chunk if rows are left."""
    job = Job.objects.select_related("campaign").filter(pk=job_id).first()
    number = WhatsAppNumber.objects.filter(pk=number_id).first()
    if job is None or number is None:
        return "gone"  # deleted, or not this organization's: nothing to send
    end = run_chunk(job, number)
    if end is ChunkEnd.MORE:
        send_chunk.delay(job_id, number_id)
    elif end is ChunkEnd.WAIT:
        send_chunk.apply_async((job_id, number_id), countdown=WAIT_SECONDS)
    return end.value


@shared_task(name="crm.campaigns.tasks.start_scheduled_campaigns")
def start_scheduled_campaigns() -> int:
    """Beat: run every campaign whose start time has come (each in its own organization)."""
    # Finds due campaigns of every organization; each is then run as its own organization.
    with unscoped():
        due = list(Campaign.objects.filter(scheduled_at__lte=timezone.now())
                   .values_list("pk", "organization_id"))
    started = 0
    for campaign_id, organization_id in due:
        with tenant_context(organization_id):
            campaign = Campaign.objects.get(pk=campaign_id)
            Campaign.objects.filter(pk=campaign_id).update(scheduled_at=None)
            try:
                services.run_campaign(campaign)
            except CampaignActionError as error:
                logger.warning("Scheduled campaign %s not started: %s", campaign_id, error)
                Campaign.objects.filter(pk=campaign_id).update(status="failed")
                continue
            started += 1
    return started


@shared_task(name="crm.campaigns.tasks.sweep_stalled_jobs")
def sweep_stalled_jobs() -> int:
    """Beat: restart the senders of running jobs with no activity for a lease period (their
    chain was lost); rows still leased are taken over once the lease runs out."""
    quiet_since = timezone.now() - timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS)
    # Looks at the running jobs of every organization; each is restarted as its own.
    with unscoped():
        stalled = list(
            Job.objects.filter(state=Job.State.RUNNING)
            .annotate(active=Max("statuses__updated_at")).filter(active__lt=quiet_since)
            .values_list("pk", "organization_id")
        )
    for job_id, organization_id in stalled:
        with tenant_context(organization_id):
            numbers = set(Job.objects.get(pk=job_id).statuses.filter(status="pending")
                          .values_list("whatsapp_number_id", flat=True))
            for number_id in numbers:
                send_chunk.delay(str(job_id), str(number_id))
    return len(stalled)
