"""Sending one chunk of a job from one number: claim rows, wait for a send slot, send, record.

Rows are claimed with a lease (job_status.lease_until): a worker killed mid-chunk leaves rows
whose lease runs out, and any later chunk takes them over. Each outcome is written as soon as the
send returns, so only sends in flight at a kill (at most one per sending thread) can go twice.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from crm.campaigns import portable, ratelimit
from crm.campaigns.content import content_json, validated
from crm.campaigns.errors import InvalidContent
from crm.campaigns.outcomes import Outcome, record
from crm.campaigns.personalise import Missing, fill, has_placeholders, values_for
from crm.campaigns.services import finish_if_done, mark_stopped
from crm.inbox import events
from crm.models import Job, JobStatus, WhatsAppNumber
from crm.observability.metrics import CAMPAIGN_SENDS
from crm.webhooks.numbers import digits
from crm.webhooks.statuses import replay
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import Action, GraphError, PairRateLimitError, ThroughputError
from crm.whatsapp.optout import opt_out
from crm.whatsapp.schemas import MessageContent, OutboundMessage
from crm.whatsapp.send import message_columns
from tenancy.context import get_current_organization_id

SKIPPED = "skipped: opted out"
CAMPAIGN = "campaign"  # messages.sender_type of what a campaign sends


class ChunkEnd(str, Enum):
    """Why a chunk ended, which decides what comes next."""

    MORE = "more"  # rows left: queue the next chunk now
    WAIT = "wait"  # rows left, all held by a lease or a pause: queue it later
    DONE = "done"  # nothing left for this number
    STOPPED = "stopped"  # the job was stopped


@dataclass(frozen=True)
class Row:
    """A claimed job_status row, with what its message needs of the customer."""

    customer_id: uuid.UUID
    wa_id: str
    attempts: int
    name: str | None
    params: Any
    attributes: Any = None


def claim(job: Job, number: WhatsAppNumber, size: int) -> list[Row]:
    """Lease up to `size` pending rows of the job for this number (none another worker holds)."""
    if connection.vendor != "postgresql":
        return portable.claim(job, number, size, timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS))
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
            "RETURNING s.customer_id, c.wa_id, s.attempts, c.name, s.params, c.attributes",
            {"lease": timedelta(seconds=settings.CAMPAIGN_LEASE_SECONDS),
             "org": get_current_organization_id(), "job": job.pk, "number": number.pk,
             "size": size},
        )
        # Django's connection hands jsonb over undecoded (params, attributes).
        return [Row(customer_id, wa_id, attempts, name, json.loads(params) if params else None,
                    json.loads(attributes) if attributes else None)
                for customer_id, wa_id, attempts, name, params, attributes in cursor.fetchall()]


def release(job: Job, rows: list[Row], delay: float = 0.0) -> None:
    """Give rows back unsent (after `delay` seconds), their attempts unchanged."""
    if rows:
        now = timezone.now()
        JobStatus.objects.filter(job=job, customer_id__in=[r.customer_id for r in rows]).update(
            lease_until=now + timedelta(seconds=delay) if delay else None, updated_at=now
        )


class Sender:
    """Sends the job's message to claimed rows from one number, recording each outcome."""

    def __init__(self, job: Job, number: WhatsAppNumber) -> None:
        self.job = job
        self.number = number
        self.client = GraphClient(number, campaign=job.campaign, job=job, retries=0,
                                  keep_logs=True)
        self.from_wa_id = digits(number.display_number) or number.phone_number_id
        content = content_json(job.campaign)
        # Without placeholders every recipient gets the same message: checked once.
        self._template = content if has_placeholders(content) else None
        self._fixed = None if self._template else validated(job.campaign, content)
        self._wamids: list[str] = []  # sent since the last take_wamids()

    def take_wamids(self) -> list[str]:
        """The wamids of the messages sent since the last call."""
        taken, self._wamids = self._wamids, []
        return taken

    def content_for(self, row: Row) -> MessageContent | None:
        """The row's message; None (and the row failed, with the reason) when it cannot be."""
        if self._fixed is not None:
            return self._fixed
        try:
            values = values_for(row.customer_id, row.name, row.wa_id, row.params, row.attributes)
            return validated(self.job.campaign, fill(self._template, values))
        except (Missing, InvalidContent) as error:
            self._record(row, Outcome(
                JobStatus.Status.FAILURE, str(error)[:200], row.attempts,
                campaign_log=self._log("failed", row, time.perf_counter(),
                                       error_message=str(error)),
            ))
            return None

    def send(self, row: Row, content: MessageContent) -> bool:
        """Send to one row and record the outcome; False when the error stops the whole job."""
        started = time.perf_counter()
        body = OutboundMessage.build(content, to=row.wa_id).as_json()
        now = timezone.now()
        try:
            sent = self.client.send(body)
        except GraphError as error:
            return self._refused(row, content, body, now, error, started)
        self._record(row, Outcome(
            JobStatus.Status.SUCCESS, None, row.attempts,
            campaign_log=self._log("sent", row, started, whatsapp_message_id=sent.wamid,
                                   http_status_code=200, request_payload=body,
                                   response_data=sent.response),
            message=self._message(row, content, body, now, sent.wamid, None), sent_at=now,
        ))
        self._wamids.append(sent.wamid)
        return True

    def _refused(self, row: Row, content: MessageContent, body: dict[str, Any], now: datetime,
                 error: GraphError, started: float) -> bool:
        """Record what Meta's refusal means for the row (see errors.Action)."""
        log = _error_log(error)
        if error.action is Action.STOP:
            ratelimit.set_stopped(self.job.pk, True)
            mark_stopped(self.job, f"Meta error {error.code} on {self.number}: {error}")
            self._record(row, Outcome(JobStatus.Status.PENDING, f"stopped by {error.code}",
                                      row.attempts,
                                      campaign_log=self._log("failed", row, started, **log)))
            return False
        if error.action is Action.RETRY:
            attempts = row.attempts + 1
            if attempts < settings.CAMPAIGN_MAX_ATTEMPTS:
                self._record(row, Outcome(
                    JobStatus.Status.PENDING, f"retrying after {error.code}", attempts,
                    lease_until=now + timedelta(seconds=self._retry_delay(error, attempts)),
                    campaign_log=self._log("retry", row, started, **log),
                ))
                return True
            reason = f"{error.code}: gave up after {attempts} attempts"
        elif error.action is Action.OPTED_OUT:
            opt_out([row.customer_id])  # Meta says so: no marketing to them from now on
            reason = SKIPPED
        else:
            reason = f"{error.code}: {error.action.value}"
        self._record(row, Outcome(
            JobStatus.Status.FAILURE, reason[:200], row.attempts,
            campaign_log=self._log("failed", row, started, **log),
            message=self._message(row, content, body, now, None, error),
        ))
        return True

    def _retry_delay(self, error: GraphError, attempts: int) -> float:
        """Seconds before the row goes again; over Meta's throughput the whole number pauses."""
        delay = error.retry_after or min(60.0, settings.CAMPAIGN_RETRY_BASE_SECONDS * 2 ** attempts)
        if isinstance(error, ThroughputError):
            ratelimit.back_off(self.number.pk, delay)
        if isinstance(error, PairRateLimitError):
            delay = max(delay, settings.CAMPAIGN_PAIR_SECONDS)
        return delay

    def _log(self, status: str, row: Row, started: float, **fields: Any) -> dict[str, Any]:
        """campaign_logs columns of one attempt."""
        return {"phone_number": row.wa_id[:20], "status": status, "retry_count": row.attempts,
                "processing_time_ms": int((time.perf_counter() - started) * 1000), **fields}

    def _message(self, row: Row, content: MessageContent, body: dict[str, Any], now: datetime,
                 wamid: str | None, error: GraphError | None) -> dict[str, Any]:
        """messages columns of what went out (or failed to), as send_message stores them."""
        return {
            "message_id": wamid, "from_wa_id": self.from_wa_id, "to_wa_id": row.wa_id,
            "type": content.type, "timestamp": now, "sender_type": CAMPAIGN, "raw_message": body,
            "delivery_status": "failed" if error else "sent", "delivery_status_at": now,
            "error_code": error.code if error and isinstance(error.code, int) else None,
            "error_title": error.message[:255] if error else None,
            "campaign_job_id": self.job.pk, **message_columns(content),
        }

    def _record(self, row: Row, outcome: Outcome) -> None:
        outcome.api_logs, self.client.kept_logs = self.client.kept_logs, []
        record(self.job.pk, self.job.campaign_id, row.customer_id, outcome)
        CAMPAIGN_SENDS.labels(self.number.phone_number_id, outcome.status).inc()


def _error_log(error: GraphError) -> dict[str, object]:
    return {"error_code": str(error.code)[:50] if error.code is not None else None,
            "error_message": str(error), "http_status_code": error.http_status,
            "response_data": error.as_json()}


def run_chunk(job: Job, number: WhatsAppNumber) -> ChunkEnd:
    """Send up to CAMPAIGN_CHUNK_SIZE messages of the job from `number`, within a few seconds."""
    if job.state != Job.State.RUNNING or ratelimit.is_stopped(job.pk):
        return ChunkEnd.STOPPED
    try:
        sender = Sender(job, number)
    except InvalidContent as error:  # the content was changed into one WhatsApp would refuse
        ratelimit.set_stopped(job.pk, True)
        mark_stopped(job, str(error))
        return ChunkEnd.STOPPED
    deadline = time.monotonic() + settings.CAMPAIGN_CHUNK_SECONDS
    sent = 0
    while sent < settings.CAMPAIGN_CHUNK_SIZE and time.monotonic() < deadline:
        rows = claim(job, number, settings.CAMPAIGN_CLAIM_SIZE)
        if not rows:
            break
        try:
            for index, row in enumerate(rows):
                content = sender.content_for(row)
                if content is None:
                    continue
                slot = ratelimit.acquire(number.pk, number.messages_per_second, job.pk,
                                         row.wa_id, deadline=deadline)
                if slot.pair_limited:
                    release(job, [row], delay=settings.CAMPAIGN_PAIR_SECONDS)
                    continue
                if not slot.granted:
                    release(job, rows[index:])
                    return ChunkEnd.STOPPED if slot.stopped else ChunkEnd.MORE
                if not sender.send(row, content):
                    release(job, rows[index + 1:])
                    return ChunkEnd.STOPPED
                sent += 1
        finally:
            # Once per claim, not per message: open inboxes refresh these customers, and the
            # statuses Meta sent before their messages were stored are applied.
            events.publish(events.MESSAGE, job.organization_id,
                           customers=[str(row.customer_id) for row in rows])
            replay(sender.take_wamids())
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
