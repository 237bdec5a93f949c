"""Contact imports (a file of customers, imported in batches) and segments (saved filters).

`contact_imports` keeps the uploaded file until its job has run, so a Celery worker on another
machine reads it from the database, and the job's progress and rejected rows for the page and
the API. `segments` are filters over the organization's customers, counted live and used as a
campaign's audience (crm.segments).
"""
from __future__ import annotations

import uuid

from django.db import models

from tenancy.models import TenantModel


class ContactImport(TenantModel):
    """One uploaded file of contacts and its import's progress."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    file_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=10, help_text="csv or xlsx.")
    # The file until the import has run (then NULL): workers may run on another machine.
    data = models.BinaryField(null=True, blank=True, editable=False)
    mapping = models.JSONField(default=dict, blank=True, help_text=(
        'Columns of the file per field, such as {"phone": "Mobile", "name": "Name", '
        '"labels": "Tags", "attributes": {"city": "City"}}.'))
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.IntegerField(default=0)
    processed_rows = models.IntegerField(default=0)
    created_count = models.IntegerField(default=0)
    updated_count = models.IntegerField(default=0)
    unchanged_count = models.IntegerField(default=0)
    rejected_count = models.IntegerField(default=0)
    # The first rejected rows, each {"row": n, "reason": "..."} (row 1 is the header).
    rejected = models.JSONField(default=list, blank=True)
    error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "contact_imports"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"],
                         name="contact_imports_org_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"


class Segment(TenantModel):
    """A saved filter over the organization's customers (crm.segments.filters)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=200)
    filters = models.JSONField(default=dict, blank=True, help_text=(
        'Such as {"labels": ["vip"], "attributes": {"city": "Pune"}, "last_message_after": '
        '"2026-01-01", "last_message_before": "2026-02-01", "source_ad": "120208", '
        '"opted_out": false, "has_ordered": true}.'))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "segments"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="segments_org_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The admin's form: the same checks as the API (crm.segments.filters)."""
        from django.core.exceptions import ValidationError

        from crm.segments.errors import InvalidFilter
        from crm.segments.filters import check_filters

        try:
            self.filters = check_filters(self.filters)
        except InvalidFilter as error:
            raise ValidationError({"filters": str(error)}) from None
