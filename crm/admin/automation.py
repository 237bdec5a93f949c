"""Automation rules and flows (ORG_ADMIN writes, agents read); their runs and sessions
(read-only history)."""
from __future__ import annotations

from django.contrib import admin

from crm.admin.base import LogAdmin, TenantModelAdmin
from crm.admin.sites import site
from crm.models import AutomationRule, AutomationRun, AutomationSchedule, Flow, FlowSession


@admin.register(AutomationRule, site=site)
class AutomationRuleAdmin(TenantModelAdmin):
    """A rule's trigger, conditions and actions are JSON, checked on save like the API's
    (see README, Automation, for their shapes)."""

    list_display = ("name", "is_active", "priority", "stop_processing", "trigger_type",
                    "updated_at")
    list_filter = ("is_active", "stop_processing")
    search_fields = ("name",)
    fields = ("name", "is_active", "priority", "stop_processing", "trigger", "conditions",
              "actions")

    @admin.display(description="trigger")
    def trigger_type(self, obj: AutomationRule) -> str:
        return str((obj.trigger or {}).get("type", "")) if isinstance(obj.trigger, dict) else ""


@admin.register(AutomationRun, site=site)
class AutomationRunAdmin(LogAdmin):
    list_display = ("created_at", "rule", "customer", "message", "outcome", "error")
    list_filter = ("outcome", "created_at")
    list_select_related = ("rule", "customer", "message")
    search_fields = ("customer__wa_id", "error")
    date_hierarchy = "created_at"


@admin.register(AutomationSchedule, site=site)
class AutomationScheduleAdmin(LogAdmin):
    list_display = ("due_at", "rule", "customer", "message", "state")
    list_filter = ("state", "due_at")
    list_select_related = ("rule", "customer", "message")
    search_fields = ("customer__wa_id",)
    date_hierarchy = "due_at"


@admin.register(Flow, site=site)
class FlowAdmin(TenantModelAdmin):
    """A flow's steps are JSON, checked on save like the API's (see README, Automation)."""

    list_display = ("name", "is_active", "expire_minutes", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    fields = ("name", "is_active", "expire_minutes", "steps")


@admin.register(FlowSession, site=site)
class FlowSessionAdmin(LogAdmin):
    list_display = ("created_at", "flow", "customer", "step", "state", "expires_at", "error")
    list_filter = ("state", "created_at")
    list_select_related = ("flow", "customer")
    search_fields = ("customer__wa_id", "error")
    date_hierarchy = "created_at"
