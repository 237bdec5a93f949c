"""Sending one chunk of a job from one number: claim rows, wait for a send slot, send, record.

Rows are claimed with a lease (job_status.lease_until): a worker killed mid-chunk leaves rows
whose lease runs out, and any later chunk takes them over. Each outcome is written as soon as the
send returns, so only sends in flight at a kill (at most one per sending thread) can go twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.campaigns import ratelimit
from crm.campaigns.content import message_content
from crm.campaigns.services import finish_if_done, mark_stopped
from crm.models import CampaignLog, Job, JobStatus, WhatsAppNumber
from crm.whatsapp.client import GraphClient
from crm.whatsapp.optout import opt_out
from crm.whatsapp.errors import Action, GraphError, PairRateLimitError, ThroughputError
from crm.whatsapp.schemas import MessageContent, OutboundMessage
from tenancy.context import get_current_organization_id

SKIPPED = "skipped: opted out"


class ChunkEnd(str, Enum):
    """Why a chunk ended, which decides what comes next."""

    MORE = "more"  # rows left: queue the next chunk now
    WAIT = "wait"  # rows left, all held by a lease or a pause: queue it later
    DONE = "done"  # nothing left for this number
    STOPPED = "stopped"  # the job was stopped


@dataclass(frozen=True)
class Row:
    """A claimed job_status row."""

    customer_id: object
    wa_id: str
    attempts: int


def claim(job: Job, number: WhatsAppNumber, size: int) -> list[Row]:
    """Lease up to `size` pending rows of the job for this number (none another worker holds)."""
    # One statement claims atomically across workers (SKIP LOCKED); the organization condition
    # is explicit since the scoped manager does not see this SQL.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE job_status s SET lease_until = (clock_timestamp() AT TIME ZONE 'utc') "
            "+ %(lease)s, updated_at = clock_timestamp() AT TIME ZONE 'utc' "
            "FROM (SELECT p.job_id, p.customer_id FROM job_status p "
            "WHERE p.organization_id = %(org)s AND p.job_id = %(job)s "
            "AND p.whatsapp_number_id = %(number)s AND p.status = 'pending' AND (p.lease_until "
            "IS NULL OR p.lease_until <= clock_timestamp() AT TIME ZONE 'utc') "
            "ORDER BY p.customer_id LIMIT %(size)s FOR UPDATE SKIP LOCKED) picked, customers c "
            "WHERE s.job_id = picked.job_id AND s.customer_id = picked.customer_id "
            "AND c.id = s.customer_id AND c.organization_id = %(org)s "
            "RETURNING s.customer_id, c.wa_id, s.attempts",
            {"lease": timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS),
             "org": get_current_organization_id(), "job": job.pk, "number": number.pk,
             "size": size},
        )
        return [Row(*found) for found in cursor.fetchall()]


def _rows(job: Job, rows: list[Row]) -> object:
    return JobStatus.objects.filter(job=job, customer_id__in=[r.customer_id for r in rows])


def release(job: Job, rows: list[Row], delay: float = 0.0) -> None:
    """Give rows back unsent (after `delay` seconds), their attempts unchanged."""
    if rows:
        now = timezone.now()
        _rows(job, rows).update(
            lease_until=now + timedelta(seconds=delay) if delay else None, updated_at=now
        )


def _log(job: Job, row: Row, status: str, started: float, **fields: object) -> None:
    CampaignLog.objects.create(
        campaign=job.campaign, job=job, target_type="customer", target_id=row.customer_id,
        phone_number=row.wa_id[:20], status=status, created_at=timezone.now(),
        processed_at=timezone.now(), retry_count=row.attempts,
        processing_time_ms=int((time.perf_counter() - started) * 1000), **fields,
    )


def _finish(job: Job, row: Row, status: str, reason: str | None, started: float,
            **log: object) -> None:
    _rows(job, [row]).update(status=status, lease_until=None, reason=reason,
                             updated_at=timezone.now())
    _log(job, row, "sent" if status == JobStatus.Status.SUCCESS else "failed", started, **log)


def _retry(job: Job, number: WhatsAppNumber, row: Row, error: GraphError,
           started: float) -> None:
    """Keep the row pending for later; give up after CAMPAIGN_MAX_ATTEMPTS."""
    attempts = row.attempts + 1
    if attempts >= settings.CAMPAIGN_MAX_ATTEMPTS:
        _finish(job, row, JobStatus.Status.FAILURE, f"{error.code}: gave up after {attempts} "
                "attempts", started, **_error_log(error))
        return
    delay = error.retry_after or min(60.0, settings.CAMPAIGN_RETRY_BASE_SECONDS * 2 ** attempts)
    if isinstance(error, ThroughputError):
        ratelimit.back_off(number.pk, delay)  # the number is over Meta's limit: pause all
    if isinstance(error, PairRateLimitError):
        delay = max(delay, settings.CAMPAIGN_PAIR_SECONDS)
    _rows(job, [row]).update(
        attempts=attempts, lease_until=timezone.now() + timedelta(seconds=delay),
        reason=f"retrying after {error.code}", updated_at=timezone.now(),
    )
    _log(job, row, "retry", started, **_error_log(error))


def _error_log(error: GraphError) -> dict[str, object]:
    return {"error_code": str(error.code)[:50] if error.code is not None else None,
            "error_message": str(error), "http_status_code": error.http_status,
            "response_data": error.as_json()}


def send_one(client: GraphClient, job: Job, number: WhatsAppNumber, row: Row,
             content: MessageContent) -> bool:
    """Send to one row and record the outcome; False when the error stops the whole job.

    The call's api log, the row's outcome and its campaign log are one transaction, committed
    without waiting for the disk: a database crash can only lose the last few outcomes, whose
    rows then go again like those in flight at a worker's kill.
    """
    with transaction.atomic():
        # PostgreSQL-only setting of this transaction; no table is read or written here.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        return _send_and_record(client, job, number, row, content)


def _send_and_record(client: GraphClient, job: Job, number: WhatsAppNumber, row: Row,
                     content: MessageContent) -> bool:
    started = time.perf_counter()
    body = OutboundMessage.build(content, to=row.wa_id).as_json()
    try:
        sent = client.send(body)
    except GraphError as error:
        if error.action is Action.RETRY:
            _retry(job, number, row, error, started)
        elif error.action is Action.STOP:
            release(job, [row])
            ratelimit.set_stopped(job.pk, True)
            mark_stopped(job, f"Meta error {error.code} on {number}: {error}")
            return False
        elif error.action is Action.OPTED_OUT:
            opt_out([row.customer_id])  # Meta says so: no marketing to them from now on
            _finish(job, row, JobStatus.Status.FAILURE, SKIPPED, started, **_error_log(error))
        else:
            _finish(job, row, JobStatus.Status.FAILURE, f"{error.code}: {error.action.value}",
                    started, **_error_log(error))
        return True
    _finish(job, row, JobStatus.Status.SUCCESS, None, started, whatsapp_message_id=sent.wamid,
            http_status_code=200, request_payload=body, response_data=sent.response)
    return True


def run_chunk(job: Job, number: WhatsAppNumber) -> ChunkEnd:
    """Send up to CAMPAIGN_CHUNK_SIZE messages of the job from `number`, within a few seconds."""
    if job.state != Job.State.RUNNING or ratelimit.is_stopped(job.pk):
        return ChunkEnd.STOPPED
    content = message_content(job.campaign)
    client = GraphClient(number, campaign=job.campaign, job=job, retries=0)
    deadline = time.monotonic() + settings.CAMPAIGN_CHUNK_SECONDS
    sent = 0
    while sent < settings.CAMPAIGN_CHUNK_SIZE and time.monotonic() < deadline:
        rows = claim(job, number, settings.CAMPAIGN_CLAIM_SIZE)
        if not rows:
            break
        for index, row in enumerate(rows):
            slot = ratelimit.acquire(number.pk, number.messages_per_second, job.pk, row.wa_id,
                                     deadline=deadline)
            if slot.pair_limited:
                release(job, [row], delay=settings.CAMPAIGN_PAIR_SECONDS)
                continue
            if not slot.granted:
                release(job, rows[index:])
                return ChunkEnd.STOPPED if slot.stopped else ChunkEnd.MORE
            if not send_one(client, job, number, row, content):
                release(job, rows[index + 1:])
                return ChunkEnd.STOPPED
            sent += 1
    return _what_next(job, number)


def _what_next(job: Job, number: WhatsAppNumber) -> ChunkEnd:
    pending = job.statuses.filter(status=JobStatus.Status.PENDING, whatsapp_number=number)
    if not pending.exists():
        finish_if_done(job)
        return ChunkEnd.DONE
    now = timezone.now()
    if pending.filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now)).exists():
        return ChunkEnd.MORE
    return ChunkEnd.WAIT
