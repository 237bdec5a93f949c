"""Staff accounts: ORG_ADMIN manages its organization's users; platform staff everyone's."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from crm.admin.base import TenantModelAdmin
from crm.admin.forms import TenantFormMixin
from crm.admin.scoping import all_organizations
from crm.admin.sites import site
from crm.auth import reserved_username
from crm.models import Role, User

# The roles an organization's users may have (platform staff belong to no organization).
ORGANIZATION_ROLES = (Role.ORG_ADMIN, Role.AGENT)
# wb-crm's own code still reads the legacy `users.role` enum: keep it in step with the role.
LEGACY_ROLE = {Role.SUPER_ADMIN: "SUPER_ADMIN", Role.ORG_ADMIN: "ADMIN", Role.AGENT: "AGENT"}
PROFILE = ("username", ("first_name", "last_name"), "email", "phone_number", "role")


class RoleFilter(admin.SimpleListFilter):
    """The roles users of this admin may have.

    Not RelatedOnlyFieldListFilter: it filters roles by a subquery on users, and a tenant
    queryset cannot be a subquery of a query on a shared table (TenantScope resolves
    `organization` against the outer model).
    """

    title = "role"
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(role.pk), str(role)) for role in model_admin.role_choices(request)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(role_id=self.value()) if self.value() else queryset


class RoleRulesMixin(TenantFormMixin):
    """SUPER_ADMIN is for platform staff (no organization); everyone else has one. Platform
    staff's usernames are reserved (crm.auth.reserved_username)."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        username = cleaned.get("username")
        if username:
            reserved = reserved_username(username, self._form_organization_id(),
                                         None if self.instance._state.adding else self.instance.pk)
            if reserved:
                self.add_error("username", reserved)
        role = cleaned.get("role")
        if role is None:
            if "role" in self.fields:
                self.add_error("role", "Choose the user's role.")
            return cleaned
        in_organization = self._form_organization_id() is not None
        if role.name == Role.SUPER_ADMIN and in_organization:
            self.add_error("role", "Platform staff (SUPER_ADMIN) belong to no organization.")
        elif role.name != Role.SUPER_ADMIN and not in_organization:
            field = "organization" if "organization" in self.fields else "role"
            self.add_error(field, "Organization staff need an organization.")
        return cleaned


class UserCreationForm(RoleRulesMixin, BaseUserCreationForm):
    """A new user with a password typed twice (Django's validators apply)."""

    class Meta(BaseUserCreationForm.Meta):
        model = User
        fields = ("username",)


class UserChangeForm(RoleRulesMixin, forms.ModelForm):
    """Profile and role; the password is changed on its own page, never shown."""

    class Meta:
        model = User
        fields = ("username",)


@admin.register(User, site=site)
class UserAdmin(TenantModelAdmin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ("username", "first_name", "last_name", "email", "phone_number", "role",
                    "created_at")
    list_filter = (RoleFilter,)
    list_select_related = ("role",)
    search_fields = ("username", "first_name", "last_name", "email", "phone_number")
    ordering = ("username",)
    filter_horizontal = ()
    fieldsets = (
        (None, {"fields": PROFILE}),
        ("Sign-in", {"fields": ("password_status", "legacy_role", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"fields": ("username", "password1", "password2")}),
        ("Profile", {"fields": PROFILE[1:]}),
    )
    readonly_fields = ("password_status", "legacy_role")

    @admin.display(description="password")
    def password_status(self, obj: User) -> str:
        if obj._state.adding:
            return "-"
        url = reverse("admin:auth_user_password_change", args=(obj.pk,))
        state = "Set" if obj.has_usable_password() else "Not set"
        return format_html('{} (never shown). <a href="{}">Change it</a>.', state, url)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "role":
            kwargs["queryset"] = self.role_choices(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def role_choices(self, request: HttpRequest) -> QuerySet:
        """Organization administrators give organization roles only, never SUPER_ADMIN."""
        roles = Role.objects.filter(is_active=True)
        return roles if all_organizations(request) else roles.filter(name__in=ORGANIZATION_ROLES)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if obj.role_id is not None:
            obj.legacy_role = LEGACY_ROLE.get(obj.role.name, obj.legacy_role)
        super().save_model(request, obj, form, change)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        return self.in_row_organization(request, id, super().user_change_password, id, form_url)
