"""Admin of the account lifecycle: invitations, the audit log and exports, read-only here (made
by crm.accounts and crm.lifecycle through the product's pages and API, so their links, e-mails
and files stay right)."""
from __future__ import annotations

from django.contrib import admin

from crm.admin.base import LogAdmin
from crm.admin.sites import site
from crm.models import AuditEvent, Invitation, OrganizationExport


@admin.register(Invitation, site=site)
class InvitationAdmin(LogAdmin):
    list_display = ("email", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
    list_filter = ("role", "created_at")
    list_select_related = ("role",)
    search_fields = ("email",)
    exclude = ("nonce",)


@admin.register(AuditEvent, site=site)
class AuditEventAdmin(LogAdmin):
    list_display = ("created_at", "action", "actor_name", "details")
    list_filter = ("action", "created_at")
    search_fields = ("action", "actor_name")
    date_hierarchy = "created_at"


@admin.register(OrganizationExport, site=site)
class OrganizationExportAdmin(LogAdmin):
    list_display = ("created_at", "state", "size", "finished_at", "expires_at")
    list_filter = ("state", "created_at")
    search_fields = ("state",)
    date_hierarchy = "created_at"
