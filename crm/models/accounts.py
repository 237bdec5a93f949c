"""The account lifecycle: invitations to join an organization, and its audit log."""
from __future__ import annotations

import uuid

from django.db import models

from tenancy.models import TenantModel


class Invitation(TenantModel):
    """An ORG_ADMIN's invitation to an e-mail address: a one-time link that expires.

    The link is signed and names this row and its `nonce`; resending replaces the nonce, so only
    the newest link works, and accepting or revoking ends it for good.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    email = models.EmailField(max_length=100)
    role = models.ForeignKey("Role", on_delete=models.PROTECT, related_name="+")
    invited_by = models.ForeignKey("User", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", db_index=False)
    nonce = models.CharField(max_length=32, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey("User", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", db_index=False,
                             help_text="The user who accepted it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "invitations"
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["organization", "email"], name="invitations_org_email_idx")]

    def __str__(self) -> str:
        return f"invitation of {self.email}"

    @property
    def state(self) -> str:
        """pending, accepted, revoked or expired."""
        from django.utils import timezone

        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        return "expired" if self.expires_at <= timezone.now() else "pending"


class AuditEvent(TenantModel):
    """Who did what to the organization's accounts and data: written by crm.audit, read-only.

    The actor is kept by id and name, not by key: the log outlives the users it names.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    action = models.CharField(max_length=50)
    actor_id = models.UUIDField(null=True, blank=True)
    actor_name = models.CharField(max_length=100, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "audit_events"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"],
                                name="audit_events_org_created_idx")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_name or 'the system'}"
