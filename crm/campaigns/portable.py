"""The campaign path on SQLite (the `bin/run` demo): what the PostgreSQL statements of
`audience`, `services`, `sending` and `outcomes` do, through the ORM.

SQLite has no regexp_replace, arrays, DISTINCT ON, SKIP LOCKED or data-modifying CTEs, so these
read the audience into Python (a demo's audience: thousands, not the 100,000 PostgreSQL queues
in one statement). Claims stay atomic across the demo's processes because SQLite serialises
writers and settings open every transaction IMMEDIATE (the write lock first).
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.lifecycle.erasure import TOKEN_PREFIX
from crm.models import (
    Campaign,
    CampaignCustomer,
    CampaignRecipient,
    Customer,
    Job,
    JobStatus,
    WhatsAppNumber,
)

if TYPE_CHECKING:
    from crm.campaigns.outcomes import Outcome
    from crm.campaigns.sending import Row

SKIPPED = "skipped: opted out"


def _digits(phone: str | None) -> str:
    return re.sub(r"[^0-9]", "", phone or "")


def insert_audience(campaign: Campaign, customers: QuerySet[Customer]) -> int:
    """Add the customers not in the audience yet; returns how many were added."""
    known = set(CampaignCustomer.objects.filter(campaign=campaign).values_list(
        "customer_id", flat=True))
    added = [CampaignCustomer(campaign=campaign, customer_id=pk)
             for pk in customers.order_by().values_list("pk", flat=True).distinct()
             if pk not in known]
    CampaignCustomer.objects.bulk_create(added, batch_size=500)
    return len(added)


def import_recipients(campaign: Campaign) -> None:
    """Uploaded recipients become customers of the organization (digits of their number)."""
    names: dict[str, str | None] = {}
    for phone, name in CampaignRecipient.objects.filter(campaign=campaign).values_list(
            "phone_number", "name"):
        wa_id = _digits(phone)
        if wa_id:
            names[wa_id] = max(filter(None, (names.get(wa_id), name)), default=None)
    known = set(Customer.objects.filter(wa_id__in=list(names)).values_list("wa_id", flat=True))
    now = timezone.now()
    Customer.objects.bulk_create([
        Customer(wa_id=wa_id, name=name, created_at=now, customer_status="pending")
        for wa_id, name in names.items() if wa_id not in known
    ])


def queue_statuses(job: Job, numbers: list[WhatsAppNumber], skip_opted_out: bool) -> int:
    """One job_status per audience customer, round-robin over `numbers` (see services)."""
    audience: dict[uuid.UUID, tuple[bool, Any]] = {}
    living = Customer.objects.exclude(wa_id__startswith=TOKEN_PREFIX)
    chosen = living.filter(pk__in=CampaignCustomer.objects.filter(
        campaign_id=job.campaign_id).values("customer_id"))
    for pk, opted_out_at in chosen.values_list("pk", "marketing_opt_out_at"):
        audience[pk] = (opted_out_at is not None, None)
    uploaded: dict[str, Any] = {}
    for phone, params in CampaignRecipient.objects.filter(
            campaign_id=job.campaign_id).values_list("phone_number", "params"):
        # A customer uploaded twice goes once, with params when one of the uploads has them.
        if uploaded.get(_digits(phone)) is None:
            uploaded[_digits(phone)] = params
    for pk, wa_id, opted_out_at in living.filter(wa_id__in=list(uploaded)).values_list(
            "pk", "wa_id", "marketing_opt_out_at"):
        audience[pk] = (opted_out_at is not None, uploaded[wa_id])
    now = timezone.now()
    rows = []
    for index, (pk, (opted_out, params)) in enumerate(sorted(audience.items())):
        skipped = skip_opted_out and opted_out
        rows.append(JobStatus(
            job=job, customer_id=pk, whatsapp_number=numbers[index % len(numbers)], attempts=0,
            status=JobStatus.Status.FAILURE if skipped else JobStatus.Status.PENDING,
            reason=SKIPPED if skipped else None, updated_at=now, params=params,
        ))
    JobStatus.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def claim(job: Job, number: WhatsAppNumber, size: int, lease: timedelta) -> list[Row]:
    """Lease up to `size` pending rows of the job for this number (none another sender holds)."""
    from crm.campaigns.sending import Row  # sending imports this module

    now = timezone.now()
    with transaction.atomic():  # IMMEDIATE: no other process claims between read and write
        free = JobStatus.objects.filter(
            job=job, whatsapp_number=number, status=JobStatus.Status.PENDING,
        ).filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        keys = list(free.order_by("customer_id").values_list("customer_id", flat=True)[:size])
        JobStatus.objects.filter(job=job, customer_id__in=keys).update(
            lease_until=now + lease, updated_at=now)
        claimed = JobStatus.objects.filter(job=job, customer_id__in=keys).order_by(
            "customer_id").values_list("customer_id", "customer__wa_id", "attempts",
                                       "customer__name", "params", "customer__attributes")
        return [Row(*values) for values in claimed]


def _model(table: str) -> type[models.Model]:
    return next(model for model in apps.get_app_config("crm").get_models()
                if model._meta.db_table == table)


def _create(table: str, columns: dict[str, Any]) -> None:
    """Insert a row given by column names (as outcomes builds them)."""
    model = _model(table)
    attnames = {field.column: field.attname for field in model._meta.concrete_fields}
    model.objects.create(**{attnames[column]: value for column, value in columns.items()})


def record(job_id: uuid.UUID, campaign_id: uuid.UUID, customer_id: uuid.UUID,
           outcome: Outcome, organization_id: uuid.UUID, now: datetime) -> None:
    """Write the outcome of one send to every table it touches, in one transaction."""
    with transaction.atomic():
        for api_log in outcome.api_logs:
            _create("whatsapp_api_logs", {"organization_id": organization_id, **api_log})
        _create("campaign_logs", {
            "organization_id": organization_id, "campaign_id": campaign_id, "job_id": job_id,
            "target_type": "customer", "target_id": customer_id, "created_at": now,
            "processed_at": now, **outcome.campaign_log,
        })
        if outcome.message is not None:
            _create("messages", {"organization_id": organization_id,
                                 "customer_id": customer_id, **outcome.message})
        if outcome.sent_at is not None:
            # Never moved back: a later message of the conversation may have been stored already.
            Customer.objects.filter(pk=customer_id).filter(
                Q(last_message_at__isnull=True) | Q(last_message_at__lte=outcome.sent_at)
            ).update(last_message_at=outcome.sent_at, last_interaction_time=outcome.sent_at,
                     last_message_type=(outcome.message or {}).get("type"))
        JobStatus.objects.filter(job_id=job_id, customer_id=customer_id).update(
            status=outcome.status, attempts=outcome.attempts, lease_until=outcome.lease_until,
            reason=outcome.reason, updated_at=now)
