"""Kept webhook deliveries: platform staff see what came in, what failed and why, and replay."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.admin.base import ReadOnlyMixin, SharedModelAdmin
from crm.admin.sites import site
from crm.models import InboundDelivery
from crm.roles import is_platform_staff
from crm.webhooks.deliveries import replay


@admin.register(InboundDelivery, site=site)
class InboundDeliveryAdmin(ReadOnlyMixin, SharedModelAdmin):
    """Read-only: written by the webhook and the workers; "Replay" queues chosen ones again."""

    list_display = ("id", "received_at", "state", "attempts", "processed_at", "short_error")
    list_filter = ("state",)
    search_fields = ("=id",)
    date_hierarchy = "received_at"
    actions = ("replay_selected",)
    fields = ("id", "received_at", "state", "attempts", "next_attempt_at", "processed_at",
              "error", "report", "senders", "body")
    readonly_fields = fields

    @admin.display(description="error")
    def short_error(self, obj: InboundDelivery) -> str:
        """The first line of the error, as long as a list cell allows."""
        return obj.error.splitlines()[0][:120] if obj.error else ""

    @admin.action(description="Replay the selected deliveries", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Queue them again; workers store what was not stored (de-duplicated by wamid)."""
        queued = replay(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{queued} delivery(ies) queued again.", messages.SUCCESS)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """Platform staff only."""
        return is_platform_staff(request.user)
