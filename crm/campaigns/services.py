"""Starting, stopping and resuming a campaign's run; every write of those actions lives here.

A run is a `jobs` row and one `job_status` row per customer of the audience (the campaign's
customers, plus its uploaded recipients, who become customers of the organization), queued
set-based in one INSERT ... SELECT, each assigned round-robin to one of the sending numbers.
Celery tasks (crm.campaigns.tasks) then send, one chain of chunks per number.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from crm.accounts import gate
from crm.campaigns import portable, ratelimit
from crm.campaigns.content import check_settings, is_marketing, message_content
from crm.campaigns.errors import CampaignActionError, CampaignBusy
from crm.lifecycle.erasure import TOKEN_PREFIX
from crm.models import Campaign, Job, User, WhatsAppNumber
from tenancy.context import get_current_organization_id, tenant_context


def sending_numbers(campaign: Campaign) -> list[WhatsAppNumber]:
    """The numbers the campaign sends from: `content["from_numbers"]` (phone_number_ids) or
    every active number of the organization with an access token."""
    numbers = WhatsAppNumber.objects.filter(is_active=True).exclude(access_token__isnull=True)
    numbers = numbers.exclude(access_token="").order_by("phone_number_id")
    check_settings(campaign.content)
    content = campaign.content if isinstance(campaign.content, dict) else {}
    if content.get("from_numbers"):
        numbers = numbers.filter(phone_number_id__in=list(content["from_numbers"]))
    return list(numbers)


def refuse_unless_sending() -> None:
    """Refuse to start sending while the organization may not send (crm.accounts.gate)."""
    reason = gate.why_not_sending()
    if reason:
        raise CampaignActionError(reason)


def _import_recipients(campaign: Campaign) -> None:
    """Uploaded recipients become customers of the organization (digits of their number)."""
    if connection.vendor != "postgresql":
        portable.import_recipients(campaign)
        return
    # Set-based upsert; the organization condition is explicit on every table it reads.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers (id, organization_id, wa_id, name, created_at, "
            "customer_status) "
            "SELECT gen_random_uuid(), %(org)s, d.wa_id, d.name, "
            "clock_timestamp() AT TIME ZONE 'utc', 'pending' "
            "FROM (SELECT regexp_replace(r.phone_number, '[^0-9]', '', 'g') AS wa_id, "
            "max(r.name) AS name FROM campaign_recipients r WHERE r.organization_id = %(org)s "
            "AND r.campaign_id = %(campaign)s GROUP BY 1) d WHERE d.wa_id <> '' "
            "ON CONFLICT (organization_id, wa_id) DO NOTHING",
            {"org": get_current_organization_id(), "campaign": campaign.pk},
        )


def _queue_statuses(job: Job, numbers: list[WhatsAppNumber], skip_opted_out: bool) -> int:
    """One pending job_status per audience customer, spread over `numbers`; returns the count.

    Opted-out customers of a marketing campaign are written as failures with the reason
    `skipped: opted out` instead (counted as skipped). Erased customers are left out of every
    campaign.
    """
    if connection.vendor != "postgresql":
        return portable.queue_statuses(job, numbers, skip_opted_out)
    # One INSERT ... SELECT for the whole audience (100,000 rows in about a second); the
    # organization condition is explicit on every table it reads.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO job_status (job_id, customer_id, organization_id, status, "
            "whatsapp_number_id, attempts, reason, updated_at, params) "
            "SELECT %(job)s, a.id, %(org)s, "
            "CASE WHEN %(skip)s AND a.opted_out THEN 'failure' ELSE 'pending' END"
            "::job_status_enum, "
            "(%(numbers)s::uuid[])[1 + (row_number() OVER () - 1) %% %(n)s], 0, "
            "CASE WHEN %(skip)s AND a.opted_out THEN 'skipped: opted out' END, "
            "clock_timestamp() AT TIME ZONE 'utc', a.params "
            # A customer both chosen and uploaded goes once, with the upload's params.
            "FROM (SELECT DISTINCT ON (u.id) u.id, u.opted_out, u.params FROM ("
            "SELECT c.id, c.marketing_opt_out_at IS NOT NULL AS opted_out, NULL::jsonb AS params "
            "FROM campaign_customers cc JOIN customers c ON c.id = cc.customer_id "
            "AND c.organization_id = %(org)s AND c.wa_id NOT LIKE %(erased)s "
            "WHERE cc.organization_id = %(org)s AND cc.campaign_id = %(campaign)s "
            "UNION ALL SELECT c.id, c.marketing_opt_out_at IS NOT NULL, r.params::jsonb "
            "FROM campaign_recipients r "
            "JOIN customers c ON c.organization_id = %(org)s "
            "AND c.wa_id = regexp_replace(r.phone_number, '[^0-9]', '', 'g') "
            "AND c.wa_id NOT LIKE %(erased)s "
            "WHERE r.organization_id = %(org)s AND r.campaign_id = %(campaign)s) u "
            "ORDER BY u.id, u.params IS NULL) a",
            {
                "job": job.pk, "org": get_current_organization_id(),
                "campaign": job.campaign_id, "numbers": [n.pk for n in numbers],
                "n": len(numbers), "skip": skip_opted_out,
                # Erased customers (crm.lifecycle.erasure) are in no audience, whatever the kind.
                "erased": f"{TOKEN_PREFIX}%",
            },
        )
        return cursor.rowcount


def _running_job(campaign: Campaign) -> Job | None:
    return campaign.jobs.filter(state=Job.State.RUNNING).order_by("-created_at").first()


def run_campaign(campaign: Campaign, user: User | None = None) -> Job:
    """Queue a new run of the campaign and start sending; returns its job."""
    refuse_unless_sending()
    message_content(campaign)  # refuse content WhatsApp would refuse, before queueing anything
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if _running_job(campaign) is not None:
            raise CampaignBusy("The campaign is running already: stop it first, or wait.")
        numbers = sending_numbers(campaign)
        if not numbers:
            raise CampaignActionError(
                "The organization has no active WhatsApp number with an access token to send "
                "from: add one (or fix content.from_numbers) first."
            )
        now = timezone.now()
        job = Job.objects.create(
            campaign=campaign, created_at=now, last_attempted_by=user, last_triggered_time=now,
            state=Job.State.RUNNING, started_at=now,
        )
        _import_recipients(campaign)
        _queue_statuses(job, numbers, skip_opted_out=is_marketing(campaign))
        campaign.last_job = job
        campaign.status = "running"
        campaign.updated_at = now
        campaign.save(update_fields=["last_job", "status", "updated_at"])
        transaction.on_commit(lambda: _start_senders(job, numbers))
    return job


def _start_senders(job: Job, numbers: list[WhatsAppNumber]) -> None:
    """Queue the first chunks, as the job's organization (on commit, whatever is active then)."""
    from crm.campaigns.tasks import send_chunk  # tasks import services: imported when used

    ratelimit.set_stopped(job.pk, False)
    with tenant_context(job.organization_id):
        for _ in range(settings.CAMPAIGN_SENDERS_PER_NUMBER):
            for number in numbers:
                send_chunk.delay(str(job.pk), str(number.pk))


def _latest_job(campaign: Campaign) -> Job:
    job = campaign.jobs.order_by("-created_at").first()
    if job is None:
        raise CampaignActionError("The campaign has never run: run it first.")
    return job


def stop_campaign(campaign: Campaign, reason: str = "stopped by a user") -> Job:
    """Stop the running job: senders see the flag before their next send (within a second)."""
    job = _running_job(campaign)
    if job is None:
        raise CampaignActionError("The campaign is not running.")
    ratelimit.set_stopped(job.pk, True)
    mark_stopped(job, reason)
    return job


def stop_running_campaigns(reason: str) -> int:
    """Stop every running job of the active organization (its suspension); return how many."""
    jobs = list(Job.objects.filter(state=Job.State.RUNNING))
    for job in jobs:
        ratelimit.set_stopped(job.pk, True)
        mark_stopped(job, reason)
    return len(jobs)


def mark_stopped(job: Job, reason: str) -> None:
    """Record that the job stopped and why (a user, or an error that stops sending)."""
    now = timezone.now()
    Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
        state=Job.State.STOPPED, stop_reason=reason[:2000], finished_at=now
    )
    Campaign.objects.filter(pk=job.campaign_id).update(status="stopped", updated_at=now)
    job.refresh_from_db(fields=["state", "stop_reason", "finished_at"])


def resume_campaign(campaign: Campaign, user: User | None = None) -> Job:
    """Go on with the stopped job: only its rows still pending are sent."""
    refuse_unless_sending()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        job = _latest_job(campaign)
        if job.state != Job.State.STOPPED:
            raise CampaignActionError(f"The campaign's last run is {job.state}, not stopped.")
        numbers = list(WhatsAppNumber.objects.filter(
            pk__in=job.statuses.filter(status="pending").values("whatsapp_number_id")
        ))
        now = timezone.now()
        Job.objects.filter(pk=job.pk).update(
            state=Job.State.RUNNING, stop_reason=None, finished_at=None,
            last_attempted_by=user, last_triggered_time=now,
        )
        Campaign.objects.filter(pk=campaign.pk).update(status="running", updated_at=now)
        job.refresh_from_db()
        transaction.on_commit(lambda: _start_senders(job, numbers))
    return job


def finish_if_done(job: Job) -> bool:
    """Mark the job completed once no row is pending; True when it is (or already was)."""
    if job.statuses.filter(status="pending").exists():
        return False
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
        state=Job.State.COMPLETED, finished_at=now
    ):
        Campaign.objects.filter(pk=job.campaign_id).update(status="completed", updated_at=now)
    return True


def describe(job: Job) -> dict[str, Any]:
    """A job as the API and the admin show it."""
    return {
        "id": str(job.pk), "campaign": str(job.campaign_id), "state": job.state,
        "stop_reason": job.stop_reason, "created_at": job.created_at,
        "started_at": job.started_at, "finished_at": job.finished_at,
    }
