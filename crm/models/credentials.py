"""Each organization's credentials for a third party (Razorpay, Zoho): one row per provider.

`config` holds what is not secret (key id, client id, domain); `secrets` is a JSON object
encrypted with FIELD_ENCRYPTION_KEY (crm.integrations.crypto), decrypted only at the moment a
client needs it (crm.integrations.credentials.load).
"""
from __future__ import annotations

import uuid

from django.db import models

from tenancy.models import TenantModel


class IntegrationCredential(TenantModel):
    """One organization's account at one provider, and whether it last worked."""

    class Status(models.TextChoices):
        UNTESTED = "untested"
        OK = "ok"
        BROKEN = "broken"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    provider = models.CharField(max_length=40)
    config = models.JSONField(default=dict, blank=True)
    secrets = models.TextField(default="", blank=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNTESTED)
    status_reason = models.TextField(default="", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "integration_credentials"
        ordering = ["provider"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "provider"],
                                    name="integration_credentials_org_provider_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} ({self.status})"
