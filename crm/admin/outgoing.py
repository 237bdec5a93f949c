"""Outgoing webhooks in the back office: subscriptions (ORG_ADMIN; the secret is shown once, on
the page after adding) and their delivery attempts (read-only history)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from crm import audit
from crm.admin.base import LogAdmin, TenantModelAdmin
from crm.admin.sites import site
from crm.models import WebhookDelivery, WebhookSubscription
from crm.outgoing import services
from crm.outgoing.signing import new_secret
from tenancy.context import tenant_context


@admin.register(WebhookSubscription, site=site)
class WebhookSubscriptionAdmin(TenantModelAdmin):
    """URLs and the events they receive; turned off after repeated failures, with the reason."""

    list_display = ("url", "is_active", "consecutive_failures", "disabled_reason", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    fields = ("url", "events", "description", "is_active", "consecutive_failures",
              "disabled_reason")
    readonly_fields = ("consecutive_failures", "disabled_reason")

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any,
                   change: bool) -> None:
        if change:
            was_active = WebhookSubscription.objects.get(pk=obj.pk).is_active
            super().save_model(request, obj, form, change)
            services.reactivated(obj, was_active)
            return
        secret = new_secret()
        obj.set_secret(secret)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            with tenant_context(obj.organization_id):
                services.audit_subscription(audit.SUBSCRIPTION_CREATED, obj, by=request.user)
        messages.warning(request, f"The subscription's secret, shown this once: {secret} "
                                  "(it signs every delivery: keep it where the receiver checks "
                                  "X-WBCRM-Signature).")

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        with tenant_context(obj.organization_id):
            services.delete_subscription(obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for subscription in queryset:
            self.delete_model(request, subscription)


@admin.register(WebhookDelivery, site=site)
class WebhookDeliveryAdmin(LogAdmin):
    list_display = ("created_at", "subscription", "event", "attempt", "state", "status_code",
                    "error", "next_try_at")
    list_filter = ("state", "event", "created_at")
    list_select_related = ("subscription",)
    search_fields = ("event", "error")
    date_hierarchy = "created_at"
