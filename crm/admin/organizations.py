"""Organizations and roles (platform staff only), and API tokens of an organization's users."""
from __future__ import annotations

import secrets
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from crm.admin.base import SharedModelAdmin, TenantModelAdmin
from crm.admin.sites import site
from crm.models import ApiToken, Organization, Role


@admin.register(Organization, site=site)
class OrganizationAdmin(SharedModelAdmin):
    """The tenants. Deactivating one stops its staff from signing in and hides it from the
    organization switcher; its data stays."""

    list_display = ("name", "code", "slug", "is_active", "created_at", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "code", "slug")
    prepopulated_fields = {"slug": ("code",)}


@admin.register(Role, site=site)
class RoleAdmin(SharedModelAdmin):
    list_display = ("name", "display_name", "is_active", "description")
    list_filter = ("is_active",)
    search_fields = ("name", "display_name")


@admin.register(ApiToken, site=site)
class ApiTokenAdmin(TenantModelAdmin):
    """API tokens: issued here (the key is shown once), revoked by deleting them."""

    list_display = ("__str__", "user", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = ("user", "created_at", "last_used_at")
    readonly_fields = ("last_used_at",)
    autocomplete_fields = ("user",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "user"] if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        key = secrets.token_urlsafe(32)
        obj.key_hash = ApiToken.hash(key)
        super().save_model(request, obj, form, change)
        messages.warning(
            request, f"The new API token is {key} - copy it now: it is stored hashed and cannot "
            "be shown again.",
        )
