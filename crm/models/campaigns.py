"""Broadcast campaigns, their send jobs, recipients and delivery logs."""
from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from crm.fields import PgEnumField, PlainJSONField, UTCDateTimeField
from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantModel


class Campaign(TenantModel):
    """A broadcast of one message to many customers."""

    class Type(models.TextChoices):
        TEXT = "text"
        IMAGE = "image"
        DOCUMENT = "document"
        TEMPLATE = "template"
        INTERACTIVE = "interactive"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=255)
    description = models.CharField(max_length=1000, null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True, db_index=True)
    updated_at = UTCDateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "User", on_delete=models.CASCADE, related_name="campaigns_created", db_column="created_by"
    )
    updated_by = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.CASCADE, related_name="campaigns_updated",
        db_column="updated_by", db_index=False,
    )
    campaign_cost_type = models.ForeignKey(
        "Cost", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_column="campaign_cost_type", db_index=False,
    )
    content = models.JSONField(null=True, blank=True)
    type = PgEnumField(enum_name="campaign_type_enum", choices=Type.choices, db_index=True)
    last_job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    status = models.CharField(max_length=20, null=True, blank=True, db_index=True)
    # New in the port (crm.0012): when Celery beat starts the campaign by itself.
    scheduled_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("created_by"),)

    class Meta:
        db_table = "campaigns"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Job(TenantModel):
    """One run of a campaign."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="jobs")
    created_at = UTCDateTimeField(null=True, blank=True, db_index=True)
    last_attempted_by = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_column="last_attempted_by", db_index=False,
    )
    last_triggered_time = UTCDateTimeField(null=True, blank=True)
    # New in the port (crm.0012): the run's state, why it stopped, and when it ran.
    state = models.CharField(max_length=20, null=True, blank=True)
    stop_reason = models.TextField(null=True, blank=True)
    started_at = UTCDateTimeField(null=True, blank=True)
    finished_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("campaign"),)

    class State(models.TextChoices):
        RUNNING = "running"
        STOPPED = "stopped"
        COMPLETED = "completed"

    class Meta:
        db_table = "jobs"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"job {self.pk}"


class JobStatus(TenantModel):
    """The outcome of one job for one customer (composite key)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCESS = "success"
        FAILURE = "failure"

    pk = models.CompositePrimaryKey("job", "customer")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="statuses", db_index=False)
    customer = models.ForeignKey(
        "Customer", on_delete=models.CASCADE, related_name="job_statuses", db_index=False
    )
    status = PgEnumField(enum_name="job_status_enum", choices=Status.choices)
    # New in the port (crm.0012), for sending: the number it goes out from, until when a worker
    # holds it (a claim that outlives a killed worker expires), attempts so far and the outcome.
    # No database constraint: a run writes 100,000 rows at once, and this check would be a
    # quarter of the time; the number is assigned by the run itself.
    whatsapp_number = models.ForeignKey(
        "WhatsAppNumber", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False, db_constraint=False,
    )
    lease_until = UTCDateTimeField(null=True, blank=True)
    attempts = models.SmallIntegerField(default=0)
    reason = models.CharField(max_length=200, null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)
    # New in the port (crm.0016): the uploaded recipient's own values for the campaign's
    # {{placeholders}} (campaign_recipients.params), copied when the run is queued.
    params = models.JSONField(null=True, blank=True)
    # New in the port (crm.0032): when the recipient first wrote within 24 hours of this run's
    # message (set by the report triggers, once).
    replied_at = UTCDateTimeField(null=True, blank=True, editable=False)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "job_status"
        verbose_name_plural = "job statuses"
        indexes = [
            # Senders claim a job's pending rows per number in customer order (crm.0042): the
            # index hands them over in that order, so a claim reads its 20 rows, not every
            # pending row of the number sorted.
            models.Index(
                fields=["organization", "job", "whatsapp_number", "customer"],
                condition=models.Q(status="pending"), name="job_status_org_claim_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status}"


class CampaignCustomer(TenantModel):
    """A customer chosen as audience of a campaign (composite key; wb-crm's own table)."""

    pk = models.CompositePrimaryKey("campaign", "customer")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="audience", db_index=False
    )
    customer = models.ForeignKey(
        "Customer", on_delete=models.CASCADE, related_name="campaign_memberships", db_index=False
    )

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("campaign"),)

    class Meta:
        db_table = "campaign_customers"
        indexes = [
            models.Index(fields=["organization", "campaign"], name="campaign_customers_org_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.campaign_id}"


class CampaignRecipient(TenantModel):
    """A phone number a campaign sends to, with its template parameters."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="recipients"
    )
    phone_number = models.CharField(max_length=20, db_index=True)
    name = models.CharField(max_length=100, null=True, blank=True)
    params = PlainJSONField(null=True, blank=True)
    status = models.CharField(max_length=20, null=True, blank=True, db_index=True)
    created_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("campaign"),)

    class Meta:
        db_table = "campaign_recipients"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.phone_number


class CampaignLog(TenantModel):
    """The delivery log of one campaign send attempt. Read-only history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="logs")
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.CASCADE, related_name="logs"
    )
    target_type = models.CharField(max_length=20)
    # A customer's or a recipient's id depending on target_type: no database constraint.
    target_id = models.UUIDField(null=True, blank=True)
    phone_number = models.CharField(max_length=20, null=True, blank=True, db_index=True)
    status = models.CharField(max_length=20, db_index=True)
    error_code = models.CharField(max_length=50, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    whatsapp_message_id = models.CharField(max_length=100, null=True, blank=True)
    http_status_code = models.IntegerField(null=True, blank=True)
    request_payload = models.JSONField(null=True, blank=True)
    response_data = models.JSONField(null=True, blank=True)
    processing_time_ms = models.IntegerField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True, db_index=True)
    processed_at = UTCDateTimeField(null=True, blank=True)
    retry_count = models.IntegerField(null=True, blank=True)
    last_retry_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("campaign"),)

    class Meta:
        db_table = "campaign_logs"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["job", "target_id"], name="ix_campaign_logs_job_target"),
            models.Index(fields=["organization", "-created_at"],
                         name="campaign_logs_org_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.target_type} {self.phone_number}: {self.status}"
