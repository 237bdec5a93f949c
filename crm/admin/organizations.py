"""Organizations (platform staff; an ORG_ADMIN its own one's settings), roles (platform staff),
and API tokens of an organization's users."""
from __future__ import annotations

import secrets
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from crm.admin.base import SharedModelAdmin, TenantModelAdmin
from crm.admin.sites import site
from crm.models import ApiToken, Organization, Role
from crm.roles import ORG_ADMIN_ORGANIZATION_FIELDS, is_platform_staff, may_edit_own_organization


@admin.register(Organization, site=site)
class OrganizationAdmin(SharedModelAdmin):
    """The tenants. Deactivating one stops its staff from signing in and hides it from the
    organization switcher; its data stays."""

    list_display = ("name", "code", "slug", "is_active", "created_at", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "code", "slug")
    prepopulated_fields = {"slug": ("code",)}

    # An ORG_ADMIN sees and changes its own organization only (another one is 404, like a
    # missing one), and there only the settings of ORG_ADMIN_ORGANIZATION_FIELDS.

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        queryset = super().get_queryset(request)
        if is_platform_staff(request.user):
            return queryset
        return queryset.filter(pk=request.user.organization_id)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        found = super().get_object(request, object_id, from_field)
        if found is None and not is_platform_staff(request.user):
            raise Http404("No organization of yours has this id.")
        return found

    def _own(self, request: HttpRequest, obj: Organization | None) -> bool:
        return may_edit_own_organization(request.user) and (
            obj is None or obj.pk == request.user.organization_id)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self._own(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) or self._own(request, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if is_platform_staff(request.user):
            return super().get_fields(request, obj)
        return [*ORG_ADMIN_ORGANIZATION_FIELDS, "code", "slug", "is_active"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if is_platform_staff(request.user):
            return readonly
        return [*readonly, "code", "slug", "is_active"]

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict[str, Any]:
        return super().get_prepopulated_fields(request, obj) if is_platform_staff(
            request.user) else {}


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
