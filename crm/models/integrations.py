"""Zoho CRM sync: leads, treatment mappings, and the logs of flows and API calls."""
from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from crm.fields import UTCDateTimeField, VarCharField
from tenancy.derivations import Derivation, FromMatch, FromParent
from tenancy.models import TenantModel

_CUSTOMER_BY_WA_ID = FromMatch("wa_id", "crm.Customer", "wa_id")


class Lead(TenantModel):
    """A lead pushed to Zoho CRM; zoho_lead_id is unique per organization (a local stand-in
    until the push stores Zoho's id)."""

    class ZohoPush(models.TextChoices):
        """Where the lead's push to Zoho stands (none: never asked, as wb-crm's leads)."""

        QUEUED = "queued"
        PUSHED = "pushed"
        WAITING = "waiting", "waiting for working credentials"
        FAILED = "failed", "refused by Zoho"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    zoho_lead_id = VarCharField()
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, null=True, blank=True)
    email = models.CharField(max_length=255, null=True, blank=True)
    phone = models.CharField(max_length=20, db_index=True)
    mobile = models.CharField(max_length=20, null=True, blank=True)
    city = models.CharField(max_length=100, null=True, blank=True)
    location = models.CharField(max_length=100, null=True, blank=True)
    lead_source = models.CharField(max_length=100, null=True, blank=True)
    company = models.CharField(max_length=100, null=True, blank=True)
    wa_id = VarCharField(db_index=True)
    # No database constraint in wb-crm.
    customer = models.ForeignKey(
        "Customer", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="leads", db_index=False,
    )
    appointment_details = models.JSONField(null=True, blank=True)
    treatment_name = models.CharField(max_length=255, null=True, blank=True)
    zoho_mapped_concern = models.CharField(max_length=255, null=True, blank=True)
    primary_concern = models.CharField(max_length=255, null=True, blank=True)
    sub_source = models.CharField(max_length=50, null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)
    zoho_push_status = models.CharField(max_length=20, choices=ZohoPush.choices, null=True,
                                        blank=True, editable=False)
    zoho_pushed_at = UTCDateTimeField(null=True, blank=True, editable=False)
    zoho_push_error = models.TextField(null=True, blank=True, editable=False)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (
        FromParent("customer"),
        FromMatch("wa_id", "crm.Customer", "wa_id", unless="customer"),
    )

    class Meta:
        db_table = "leads"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "zoho_lead_id"], name="leads_org_zoho_lead_id_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name or ''}".strip()


class ZohoMapping(TenantModel):
    """Maps a treatment to a Zoho concern; rows with no organization are shared by all."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    treatment_name = models.CharField(max_length=255)
    zoho_name = models.CharField(max_length=255, db_index=True)
    zoho_sub_concern = models.CharField(max_length=500, null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    shared_rows: ClassVar[bool] = True

    class Meta:
        db_table = "zoho_mappings"
        ordering = ["treatment_name"]
        constraints = [
            # An organization may override a shared mapping; each is unique in its own scope.
            models.UniqueConstraint(
                fields=["organization", "treatment_name"], name="zoho_mappings_org_treatment_uniq"
            ),
            models.UniqueConstraint(
                fields=["treatment_name"], condition=models.Q(organization__isnull=True),
                name="zoho_mappings_shared_treatment_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.treatment_name} -> {self.zoho_name}"


class FlowLog(TenantModel):
    """A step of a conversation flow (treatment, appointment) for reporting. Read-only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    wa_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    name = models.CharField(max_length=255, null=True, blank=True)
    flow_type = models.CharField(max_length=50)
    step = models.CharField(max_length=100, null=True, blank=True)
    status_code = models.IntegerField(null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    response_json = models.TextField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True, db_index=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (_CUSTOMER_BY_WA_ID,)

    class Meta:
        db_table = "flow_logs"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="flow_logs_org_created_idx")
        ]

    def __str__(self) -> str:
        return f"{self.flow_type}/{self.step} for {self.wa_id}"


class WhatsAppApiLog(TenantModel):
    """One call to the WhatsApp Cloud API made for a campaign. Read-only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    # No database constraints in wb-crm on either.
    campaign = models.ForeignKey(
        "Campaign", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="api_logs",
    )
    job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="api_logs",
    )
    phone_number = models.CharField(max_length=20, null=True, blank=True, db_index=True)
    request_url = models.CharField(max_length=500, null=True, blank=True)
    request_payload = models.JSONField(null=True, blank=True)
    request_headers = models.JSONField(null=True, blank=True)
    response_status_code = models.IntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(null=True, blank=True)
    whatsapp_message_id = models.CharField(max_length=100, null=True, blank=True)
    error_code = models.CharField(max_length=50, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    request_time = UTCDateTimeField(null=True, blank=True)
    response_time = UTCDateTimeField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True, db_index=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (
        FromParent("campaign"),
        FromParent("job"),
    )

    class Meta:
        db_table = "whatsapp_api_logs"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="wa_api_logs_org_created_idx")
        ]
        verbose_name = "WhatsApp API log"

    def __str__(self) -> str:
        return f"{self.request_url} -> {self.response_status_code}"


class ZohoPayloadLog(TenantModel):
    """A payload sent to Zoho CRM and its answer. Read-only."""

    id = models.AutoField(primary_key=True)
    wa_id = models.CharField(max_length=50, null=True, blank=True, db_index=True)
    lead_id = models.CharField(max_length=100, null=True, blank=True)
    zoho_lead_id = models.CharField(max_length=100, null=True, blank=True)
    payload = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=50, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True, db_index=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (_CUSTOMER_BY_WA_ID,)

    class Meta:
        db_table = "zoho_payload_logs"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"zoho payload {self.pk} ({self.status})"
