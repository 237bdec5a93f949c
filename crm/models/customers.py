"""Customers (WhatsApp contacts of one organization) and what hangs off them directly."""
from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from crm.fields import PgEnumField, UTCDateTimeField, VarCharField
from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantModel


class Customer(TenantModel):
    """A WhatsApp user talking to one organization; unique per (organization, wa_id)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        OPEN = "open"
        RESOLVED = "resolved"

    class ConversationStatus(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"
        RESOLVED = "resolved"
        SNOOZED = "snoozed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    wa_id = VarCharField(db_index=True)
    name = VarCharField(null=True, blank=True)
    phone_1 = models.CharField(max_length=20, null=True, blank=True)
    phone_2 = models.CharField(max_length=20, null=True, blank=True)
    email = VarCharField(null=True, blank=True)
    default_address = models.ForeignKey(
        "CustomerAddress", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )
    created_at = UTCDateTimeField(null=True, blank=True, db_index=True)
    last_message_at = UTCDateTimeField(null=True, blank=True)
    last_interaction_time = UTCDateTimeField(null=True, blank=True)
    last_message_type = models.CharField(max_length=50, null=True, blank=True)
    next_followup_time = UTCDateTimeField(null=True, blank=True, db_index=True)
    user = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.PROTECT, related_name="customers",
        db_index=False,
    )
    customer_status = PgEnumField(
        enum_name="customer_status_enum", choices=Status.choices, default=Status.PENDING
    )
    # New in the port (crm.0008): when the customer stopped marketing messages (an inbound "STOP"
    # or Meta's 131050); NULL while they accept them. Marketing templates are refused meanwhile.
    marketing_opt_out_at = models.DateTimeField(null=True, blank=True)
    # New in the port (crm.0013), kept by the webhook store and the inbox: when the customer last
    # wrote (the 24-hour window; "waiting" while it equals last_message_at), the business number
    # it wrote to (digits), and the team's read marker (messages after it are unread).
    last_inbound_at = UTCDateTimeField(null=True, blank=True)
    business_number = VarCharField(null=True, blank=True)
    last_read_at = UTCDateTimeField(null=True, blank=True)
    # New in the port (crm.0022): "talk to a human": automation leaves the conversation alone
    # until then (NULL: not paused).
    automation_paused_until = models.DateTimeField(null=True, blank=True)
    # New in the port (crm.0029): custom attributes (keys of the organization's
    # attribute_definitions, checked by crm.contacts.services) and the team's conversation
    # status; a snoozed conversation opens again at snoozed_until, any one when the customer
    # writes. Database defaults: set-based inserts (campaign recipients) fill them too.
    attributes = models.JSONField(default=dict, blank=True, db_default=models.Value(
        {}, output_field=models.JSONField()))
    conversation_status = models.CharField(
        max_length=20, choices=ConversationStatus.choices, default=ConversationStatus.OPEN,
        db_default=ConversationStatus.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # New in the port (crm.0040): the conversation is a WhatsApp group (wa_id holds the group's
    # id): replies go to the group, not to one member.
    is_group = models.BooleanField(default=False, db_default=False, editable=False)

    class Meta:
        db_table = "customers"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "wa_id"], name="customers_org_wa_id_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="customers_org_created_idx"),
            # The inbox's conversation list, newest activity first (crm.inbox.queries).
            models.Index(fields=["organization", "-last_message_at", "-id"],
                         name="customers_org_activity_idx"),
            models.Index(fields=["organization", "user", "-last_message_at", "-id"],
                         name="customers_org_user_act_idx"),
            # The inbox's status filter (crm.0030), and snoozed ones waking up when due.
            models.Index(fields=["organization", "conversation_status", "-last_message_at", "-id"],
                         name="customers_org_status_act_idx"),
            models.Index(fields=["organization", "snoozed_until"], name="customers_snoozed_idx",
                         condition=models.Q(conversation_status="snoozed")),
            # The few customers who opted out of marketing (a campaign report's opt-outs).
            models.Index(fields=["organization", "marketing_opt_out_at"],
                         condition=models.Q(marketing_opt_out_at__isnull=False),
                         name="customers_org_opted_out_idx"),
            # Conversations waiting now (the customer wrote last), counted by the dashboard.
            models.Index(
                fields=["organization"], name="customers_org_waiting_idx",
                condition=models.Q(last_inbound_at__isnull=False)
                & (models.Q(last_message_at__isnull=True)
                   | models.Q(last_inbound_at__gte=models.F("last_message_at"))),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or ''} ({self.wa_id})".strip()


class CustomerAddress(TenantModel):
    """A delivery address of a customer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="addresses", db_index=False
    )
    full_name = models.CharField(max_length=100)
    house_street = models.CharField(max_length=200)
    locality = models.CharField(max_length=100)
    city = models.CharField(max_length=50)
    state = models.CharField(max_length=50)
    pincode = models.CharField(max_length=10)
    landmark = models.CharField(max_length=100, null=True, blank=True)
    phone = models.CharField(max_length=15)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    address_type = models.CharField(max_length=20, null=True, blank=True)
    is_default = models.BooleanField(null=True, blank=True)
    is_verified = models.BooleanField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "customer_addresses"
        ordering = ["-created_at"]
        verbose_name_plural = "customer addresses"

    def __str__(self) -> str:
        return f"{self.full_name}, {self.house_street}, {self.city}"


class AddressCollectionSession(TenantModel):
    """A WhatsApp conversation collecting a customer's address for an order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="address_sessions", db_index=False
    )
    order = models.ForeignKey(
        "Order", null=True, blank=True, on_delete=models.PROTECT,
        related_name="address_sessions", db_index=False,
    )
    status = models.CharField(max_length=20, null=True, blank=True)
    collection_method = models.CharField(max_length=20, null=True, blank=True)
    session_data = models.JSONField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    expires_at = UTCDateTimeField(null=True, blank=True)
    completed_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "address_collection_sessions"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"address session {self.pk} ({self.status})"


class ReferrerTracking(TenantModel):
    """Where a customer came from (click-to-WhatsApp referral) and any appointment booked."""

    id = models.AutoField(primary_key=True)
    wa_id = VarCharField(null=True, blank=True, db_index=True)
    center_name = VarCharField(null=True, blank=True)
    location = VarCharField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    appointment_date = UTCDateTimeField(null=True, blank=True)
    appointment_time = VarCharField(null=True, blank=True)
    treatment_type = VarCharField(null=True, blank=True)
    is_appointment_booked = models.BooleanField(null=True, blank=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="referrals",
        db_index=False,
    )
    # New in the port (crm.0006): the click-to-WhatsApp ad or post, as the webhook reports it.
    source_url = VarCharField(null=True, blank=True)
    source_id = VarCharField(null=True, blank=True)
    source_type = VarCharField(null=True, blank=True)
    headline = VarCharField(null=True, blank=True)
    body = VarCharField(null=True, blank=True)
    media_type = VarCharField(null=True, blank=True)
    ctwa_clid = VarCharField(null=True, blank=True)
    message_id = VarCharField(null=True, blank=True)  # the wamid of the message carrying it

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "referrer_tracking"
        ordering = ["-created_at"]
        verbose_name_plural = "referrer tracking"

    def __str__(self) -> str:
        return f"{self.wa_id} via {self.center_name or 'unknown'}"
