"""The account lifecycle's data side: exports of a whole organization (crm.lifecycle)."""
from __future__ import annotations

import uuid

from django.db import models

from tenancy.models import TenantModel


class OrganizationExport(TenantModel):
    """One zip of every row and media file of the organization, written by a Celery job.

    The file lives in Django's default storage under `file_name`; its download link (signed)
    works until `expires_at`, for the organization's ORG_ADMIN only.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        # Past `expires_at`: its file was deleted by beat (crm.lifecycle.sweep).
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    error = models.TextField(null=True, blank=True)
    file_name = models.CharField(max_length=255, blank=True, default="")
    size = models.BigIntegerField(default=0, help_text="Bytes of the zip.")
    # By id, not by key: the record outlives the user who asked (as audit_events).
    requested_by_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "organization_exports"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"],
                                name="organization_exports_org_idx")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.state})"
