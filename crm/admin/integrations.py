"""Zoho leads and treatment mappings, and the flow, API and Zoho logs (read-only)."""
from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from crm.admin.base import LogAdmin, TenantModelAdmin
from crm.admin.messaging import SharedColumnMixin, SharedRowFilter
from crm.admin.sites import site
from crm.models import FlowLog, Lead, WhatsAppApiLog, ZohoMapping, ZohoPayloadLog
from crm.zoho import services as zoho
from tenancy.context import tenant_context

# Header names whose values are credentials (a WhatsApp access token in "Authorization").
SECRET_HEADERS = frozenset({"authorization", "access_token", "x-api-key", "cookie"})


def masked_headers(headers: Any) -> Any:
    """A copy of logged request headers with credentials replaced."""
    if not isinstance(headers, dict):
        return headers
    return {key: "•••• (hidden)" if str(key).lower() in SECRET_HEADERS else value
            for key, value in headers.items()}


@admin.register(Lead, site=site)
class LeadAdmin(TenantModelAdmin):
    list_display = ("__str__", "phone", "email", "city", "lead_source", "treatment_name",
                    "customer", "zoho_lead_id", "created_at")
    list_filter = ("lead_source", "city", "sub_source", "created_at")
    list_select_related = ("customer",)
    search_fields = ("first_name", "last_name", "email", "phone", "mobile", "wa_id",
                     "zoho_lead_id", "treatment_name")
    date_hierarchy = "created_at"
    autocomplete_fields = ("customer",)
    readonly_fields = ("zoho_push_status", "zoho_pushed_at", "zoho_push_error")
    actions = ("push_to_zoho",)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A local stand-in until the push stores Zoho's id.
        return {"zoho_lead_id": f"local-{uuid.uuid4()}",
                **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        """A new lead is pushed to Zoho once saved (when the organization has Zoho set up)."""
        super().save_model(request, obj, form, change)
        if not change:
            with tenant_context(obj.organization_id):  # all-organizations mode: the lead's own
                zoho.push_later(obj)

    @admin.action(description="Push to Zoho CRM")
    def push_to_zoho(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        leads = list(queryset.exclude(zoho_push_status=Lead.ZohoPush.PUSHED))
        for lead in leads:
            with tenant_context(lead.organization_id):  # all-organizations mode: the lead's own
                zoho.push_later(lead)
        self.message_user(request, f"{len(leads)} lead(s) handed to Zoho CRM: see their push "
                          "status (they wait while the credentials are broken, and nothing is "
                          "pushed without them).", messages.INFO)


@admin.register(ZohoMapping, site=site)
class ZohoMappingAdmin(SharedColumnMixin, TenantModelAdmin):
    """Shared mappings (no organization) are read by all, changed in all-organizations mode."""

    list_display = ("treatment_name", "zoho_name", "zoho_sub_concern", "is_shared",
                    "updated_at")
    list_filter = (SharedRowFilter, "zoho_name")
    search_fields = ("treatment_name", "zoho_name", "zoho_sub_concern")


@admin.register(FlowLog, site=site)
class FlowLogAdmin(LogAdmin):
    list_display = ("created_at", "wa_id", "name", "flow_type", "step", "status_code")
    list_filter = ("flow_type", "step", "status_code", "created_at")
    search_fields = ("wa_id", "name", "description")
    date_hierarchy = "created_at"


@admin.register(WhatsAppApiLog, site=site)
class WhatsAppApiLogAdmin(LogAdmin):
    list_display = ("created_at", "campaign", "job", "phone_number", "response_status_code",
                    "error_code", "duration_ms")
    list_filter = ("response_status_code", "error_code", "created_at")
    list_select_related = ("campaign", "job")
    search_fields = ("phone_number", "whatsapp_message_id", "error_code", "request_url")
    date_hierarchy = "created_at"
    readonly_fields = ("request_headers_masked",)

    @admin.display(description="request headers")
    def request_headers_masked(self, obj: WhatsAppApiLog) -> str:
        shown = json.dumps(masked_headers(obj.request_headers), indent=2, default=str)
        return format_html("<pre>{}</pre>", shown)


@admin.register(ZohoPayloadLog, site=site)
class ZohoPayloadLogAdmin(LogAdmin):
    list_display = ("created_at", "wa_id", "lead_id", "zoho_lead_id", "status")
    list_filter = ("status", "created_at")
    search_fields = ("wa_id", "lead_id", "zoho_lead_id", "error_message")
    date_hierarchy = "created_at"
