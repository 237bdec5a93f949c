"""Segments (ORG_ADMIN writes; filters checked on save like the API's) and contact imports
(read-only: written by the import itself)."""
from __future__ import annotations

from django.contrib import admin

from crm.admin.base import ReadOnlyMixin, TenantModelAdmin
from crm.admin.sites import site
from crm.models import ContactImport, Segment


@admin.register(Segment, site=site)
class SegmentAdmin(TenantModelAdmin):
    """A segment's filters are JSON (see README, Contacts: segments)."""

    list_display = ("name", "updated_at")
    search_fields = ("name",)
    fields = ("name", "filters")


@admin.register(ContactImport, site=site)
class ContactImportAdmin(ReadOnlyMixin, TenantModelAdmin):
    """Imports run from the API or the contacts page; here their outcome is read."""

    list_display = ("created_at", "file_name", "status", "total_rows", "created_count",
                    "updated_count", "rejected_count")
    list_filter = ("status",)
    exclude = ("data",)
