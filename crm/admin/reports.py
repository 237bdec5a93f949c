"""The report roll-ups and resolutions (read-only: the triggers and the status change keep them;
agents do not see them)."""
from __future__ import annotations

from django.contrib import admin

from crm.admin.base import LogAdmin
from crm.admin.sites import site
from crm.models import (
    CampaignFunnel,
    ConversationResolution,
    DailyMessageStat,
    ResponseTime,
    ResponseTimeCount,
)


@admin.register(DailyMessageStat, site=site)
class DailyMessageStatAdmin(LogAdmin):
    list_display = ("day", "number", "direction", "category", "messages", "billable")
    list_filter = ("direction", "category")
    date_hierarchy = "day"


@admin.register(CampaignFunnel, site=site)
class CampaignFunnelAdmin(LogAdmin):
    list_display = ("job", "number", "sent", "delivered", "read", "failed", "replied")
    list_select_related = ("job",)


@admin.register(ResponseTime, site=site)
class ResponseTimeAdmin(LogAdmin):
    list_display = ("responded_at", "customer", "agent_id", "waiting_since", "seconds")
    list_select_related = ("customer",)
    date_hierarchy = "responded_at"


@admin.register(ResponseTimeCount, site=site)
class ResponseTimeCountAdmin(LogAdmin):
    list_display = ("day", "agent_id", "seconds", "replies")
    date_hierarchy = "day"


@admin.register(ConversationResolution, site=site)
class ConversationResolutionAdmin(LogAdmin):
    list_display = ("resolved_at", "customer", "agent", "opened_at", "seconds")
    list_select_related = ("customer", "agent")
    date_hierarchy = "resolved_at"
