"""Outgoing webhooks: an organization's subscriptions (URLs and the events they want) and the log
of every delivery attempt made to them.

A subscription's secret signs each delivery (crm.outgoing.signing); it is shown once, when the
subscription is created, and never again by the API or the admin. It is stored encrypted with
FIELD_ENCRYPTION_KEY (crm.integrations.crypto, like integration credentials; crm.0037).
"""
from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantModel


class WebhookSubscription(TenantModel):
    """A URL of the organization's that receives the events it names, signed with `secret`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    url = models.CharField(max_length=2000, help_text="http(s) URL of a public address.")
    events = models.JSONField(
        help_text='For example ["message.received", "lead.created"].')
    description = models.CharField(max_length=200, blank=True, default="")
    # Fernet token of the secret (set_secret / signing_secret), never the secret itself.
    secret = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    # Failed attempts since the last success; at OUTGOING_WEBHOOKS_DISABLE_AFTER the
    # subscription is turned off and `disabled_reason` says why.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_reason = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_subscriptions"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["organization", "is_active"],
                         name="webhook_subs_active_idx"),
        ]

    def __str__(self) -> str:
        return self.url

    def set_secret(self, secret: str) -> None:
        """Store `secret` encrypted with the first key of FIELD_ENCRYPTION_KEY."""
        from crm.integrations import crypto

        self.secret = crypto.encrypt(secret)

    def signing_secret(self) -> str:
        """The secret that signs deliveries (UnreadableSecrets when no key opens it)."""
        from crm.integrations import crypto

        return crypto.decrypt(self.secret)

    def clean(self) -> None:
        """The admin's form: the same checks as the API (crm.outgoing.services)."""
        from django.core.exceptions import ValidationError

        from crm.outgoing.errors import InvalidSubscription
        from crm.outgoing.services import check_subscription

        try:
            self.url, self.events = check_subscription(self.url, self.events)
        except InvalidSubscription as error:
            raise ValidationError({error.field: error.message}) from None


class WebhookDelivery(TenantModel):
    """One attempt to deliver one event to one subscription; a retry is a new row with the same
    `event_id` and the next `attempt`."""

    class State(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE,
                                     related_name="deliveries", db_index=False)
    event = models.CharField(max_length=50)
    event_id = models.UUIDField(help_text="The same on every attempt: receivers de-duplicate "
                                          "by it.")
    payload = models.JSONField()
    attempt = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    status_code = models.IntegerField(null=True, blank=True)
    answer = models.TextField(blank=True, default="", help_text="The start of the answer.")
    error = models.TextField(blank=True, default="")
    next_try_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("subscription"),)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "subscription", "-created_at"],
                         name="webhook_deliv_sub_idx"),
            models.Index(fields=["organization", "event_id"], name="webhook_deliv_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.attempt} to {self.subscription_id}: {self.state}"
