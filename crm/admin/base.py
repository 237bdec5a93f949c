"""Base classes of every model admin: tenant tables, platform tables, logs, and inlines.

Isolation comes from the tenant layer, not from here: every queryset these admins build goes
through the scoped managers, which see the active organization's rows only (joins included).
What these classes add is the organization column and field, row rules for shared rows, and
running an existing row's pages in its own organization in "all organizations" mode.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import urlencode

from crm.admin.forms import StorableJSONField, TenantModelForm
from crm.admin.scoping import all_organizations, render_in
from crm.models import Organization
from crm.roles import hidden_in_admin, is_platform_staff
from crm.visibility import visible_rows
from tenancy.context import get_current_organization_id, tenant_context, unscoped

TIMESTAMPS = ("created_at", "updated_at")
# Columns no admin shows, filters or searches on: a token, a password hash, an API key's hash.
SECRET_FIELDS = {
    ("crm", "whatsappnumber"): frozenset({"access_token"}),
    ("crm", "user"): frozenset({"password"}),
    ("crm", "apitoken"): frozenset({"key_hash"}),
    # Encrypted integration secrets: written through the form's write-only box, never shown.
    ("crm", "integrationcredential"): frozenset({"secrets"}),
    # Outgoing webhook secrets, encrypted too: shown once, when the subscription is added.
    ("crm", "webhooksubscription"): frozenset({"secret"}),
    # Logged request headers carry the access token ("Authorization"); shown masked.
    ("crm", "whatsappapilog"): frozenset({"request_headers"}),
}


def secret_fields(model: type[models.Model]) -> frozenset[str]:
    """The secret columns of `model`."""
    return SECRET_FIELDS.get((model._meta.app_label, model._meta.model_name), frozenset())


def touches_secret(model: type[models.Model], lookup: str) -> bool:
    """Whether a changelist lookup (`user__password__startswith`) reads a secret column."""
    for part in lookup.split(LOOKUP_SEP):
        if part in secret_fields(model):
            return True
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


def _field_names(model: type[models.Model]) -> set[str]:
    return {field.name for field in model._meta.concrete_fields}


class KeyCheckedAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete select, re-showing a form whose posted choice is no valid key (".."
    for a UUID) with nothing chosen: Django's own looks the value up and fails with a 500."""

    def optgroups(self, name: str, value: Any, attr: Any = None) -> Any:
        target = self.field.target_field
        valid = []
        for item in value:
            try:
                target.to_python(item)
            except ValidationError:
                continue
            valid.append(item)
        return super().optgroups(name, valid, attr)


class CrmAdminMixin:
    """Conventions shared by every admin and inline of the CRM."""

    model: type[models.Model]
    formfield_overrides = {models.JSONField: {"form_class": StorableJSONField}}

    def _hidden_fields(self, request: HttpRequest, obj: Any) -> list[str]:
        """Fields no form shows: a generated primary key (a UUID) and secret columns."""
        pk = self.model._meta.pk
        generated = pk.has_default() or pk.db_default is not models.NOT_PROVIDED
        return [*([pk.name] if generated else []), *sorted(secret_fields(self.model))]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = KeyCheckedAutocompleteSelect(db_field, self.admin_site,
                                                            using=kwargs.get("using"))
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and getattr(field, "queryset", None) is not None:
            # A row may only point at rows the user sees: a hidden customer is not a choice.
            field.queryset = visible_rows(request.user, field.queryset)
        return field

    def lookup_allowed(self, lookup: str, value: Any, request: Any = None) -> bool:
        # A filter on a secret (?access_token__startswith=a) would read it back a letter a time.
        if touches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*(super().get_exclude(request, obj) or ()), *self._hidden_fields(request, obj)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        readonly += [name for name in TIMESTAMPS if name in _field_names(self.model)
                     and name not in readonly]
        pk = self.model._meta.pk
        natural = pk.editable and not isinstance(pk, models.fields.AutoFieldMixin)
        if obj is not None and natural and pk.name not in self._hidden_fields(request, obj):
            readonly.insert(0, pk.name)  # a natural key (a template name): changing it adds a row
        return readonly

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        stamp_times(obj, change)
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows get their timestamps too."""
        for obj in formset.save(commit=False):
            stamp_times(obj, not obj._state.adding)
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()


def stamp_times(obj: models.Model, change: bool) -> None:
    """Fill created_at on add and updated_at on change, as wb-crm's application code does."""
    names = _field_names(type(obj))
    now = timezone.now()
    if not change and "created_at" in names and getattr(obj, "created_at", None) is None:
        obj.created_at = now
    if change and "updated_at" in names:
        obj.updated_at = now


class TenantModelAdmin(CrmAdminMixin, admin.ModelAdmin):
    """A tenant table: the active organization's rows, or every one's for platform staff."""

    form = TenantModelForm
    list_per_page = 50
    show_full_result_count = False  # one count query fewer; the filtered count is still shown

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if hidden_in_admin(request.user, self.model):
            return False  # agents work conversations; logs and tokens are not theirs to read
        return super().has_view_permission(request, obj)

    def get_queryset(self, request: HttpRequest) -> Any:
        return visible_rows(request.user, super().get_queryset(request))

    # -- the organization column, filter and field --------------------------------------------

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        display = list(super().get_list_display(request))
        if all_organizations(request):
            display.insert(1, "organization")
        return display

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        filters = list(super().get_list_filter(request))
        return [*filters, "organization"] if all_organizations(request) else filters

    def get_list_select_related(self, request: HttpRequest) -> list[str]:
        related = super().get_list_select_related(request)
        related = list(related) if isinstance(related, (list, tuple)) else []
        return [*related, "organization"] if all_organizations(request) else related

    def _hidden_fields(self, request: HttpRequest, obj: Any) -> list[str]:
        hidden = super()._hidden_fields(request, obj)
        if not all_organizations(request):
            hidden.append("organization")  # organization staff never see or choose it
        return hidden

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and all_organizations(request):
            readonly.insert(0, "organization")  # a row never moves to another organization
        return readonly

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [name for name in super().get_fields(request, obj) if name != "organization"]
        return ["organization", *fields] if all_organizations(request) else fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = super().get_fieldsets(request, obj)
        if not self.fieldsets:
            return fieldsets  # built from get_fields(), already right
        stripped = [
            (name, {**options, "fields": [f for f in options["fields"] if f != "organization"]})
            for name, options in fieldsets
        ]
        if all_organizations(request):
            stripped.insert(0, (None, {"fields": ["organization"]}))
        return stripped

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "organization":
            kwargs["queryset"] = Organization.objects.filter(is_active=True)
            field = super().formfield_for_foreignkey(db_field, request, **kwargs)
            # Shared rows (templates, mappings) and platform users may belong to none.
            field.required = not self.model.null_organization_allowed()
            return field
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        if obj is None and all_organizations(request):
            return []  # rows of the new row come once its organization is saved
        return list(super().get_inlines(request, obj))

    # -- rows of no organization ------------------------------------------------------------

    def may_write_row(self, request: HttpRequest, obj: Any) -> bool:
        """Shared rows (no organization) are changed by platform staff in all-organizations mode."""
        return obj is None or obj.organization_id is not None or all_organizations(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self.may_write_row(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self.may_write_row(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and obj.organization_id is not None and get_current_organization_id() is None:
            # "All organizations" mode: the new row is written as the organization chosen for it.
            with tenant_context(obj.organization_id):
                super().save_model(request, obj, form, change)
            return
        super().save_model(request, obj, form, change)

    # -- an existing row's pages run in its own organization ----------------------------------

    def row_organization_id(self, object_id: str) -> Any:
        """The organization of the row `object_id` (only called in all-organizations mode)."""
        try:
            return (
                self.model._default_manager.filter(pk=unquote(object_id))
                .values_list("organization_id", flat=True)
                .first()
            )
        except (ValidationError, ValueError):
            return None

    def in_row_organization(
        self, request: HttpRequest, object_id: str | None, view: Any, *args: Any
    ) -> HttpResponse:
        """In all-organizations mode, run `view` as the organization of the row it shows.

        Its form then offers that organization's rows only, its inlines are that organization's,
        and saving keeps the row where it is. Shared rows and missing ids stay unscoped. The
        history page is not run this way: platform staff see every entry, whoever wrote it.
        """
        if object_id is None or not all_organizations(request):
            return view(request, *args)
        organization_id = self.row_organization_id(object_id)
        if organization_id is None:
            return view(request, *args)
        return render_in(tenant_context(organization_id), view, request, *args)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        return self.in_row_organization(
            request, object_id, super().changeform_view, object_id, form_url, extra_context
        )

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return self.in_row_organization(
            request, object_id, super().delete_view, object_id, extra_context
        )


class SharedModelAdmin(CrmAdminMixin, admin.ModelAdmin):
    """A platform table (organizations, roles, the catalog): SUPER_ADMIN edits it.

    Organization staff read it where crm.roles allows, inside their organization. Platform staff
    work on it across organizations, whatever organization they chose: deleting a product must
    see every organization's order items that still point at it.
    """

    list_per_page = 50

    def _as_platform(self, request: HttpRequest, view: Any, *args: Any) -> HttpResponse:
        if not is_platform_staff(request.user):
            return view(request, *args)
        return render_in(unscoped(), view, request, *args)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return self._as_platform(request, super().changelist_view, extra_context)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        return self._as_platform(
            request, super().changeform_view, object_id, form_url, extra_context
        )

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        return self._as_platform(request, super().delete_view, object_id, extra_context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        return self._as_platform(request, super().history_view, object_id, extra_context)


class ReadOnlyMixin:
    """History written by the system: nobody adds, changes or deletes it here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LogAdmin(ReadOnlyMixin, TenantModelAdmin):
    """A log table: read-only for everyone, platform staff included (crm.roles.LOG_MODELS)."""


# -- inlines -------------------------------------------------------------------------------


class TenantInlineMixin(CrmAdminMixin):
    """An inline of tenant rows: they take the parent's organization, never shown or chosen."""

    form = TenantModelForm
    extra = 0
    select_related: tuple[str, ...] = ()

    def _hidden_fields(self, request: HttpRequest, obj: Any) -> list[str]:
        return [*super()._hidden_fields(request, obj), "organization"]

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = visible_rows(request.user, super().get_queryset(request))
        return queryset.select_related(*self.select_related) if self.select_related else queryset


class TenantTabularInline(TenantInlineMixin, admin.TabularInline):
    """An editable tabular inline of tenant rows."""


class TenantStackedInline(TenantInlineMixin, admin.StackedInline):
    """An editable stacked inline of tenant rows."""


class RecentInlineFormSet(BaseInlineFormSet):
    """The parent's latest `limit` rows only (by the inline model's ordering)."""

    limit = 20

    def get_queryset(self) -> Any:
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset()[: self.limit]
        return self._recent


class RecentInline(ReadOnlyMixin, TenantInlineMixin, admin.TabularInline):
    """A read-only preview of a parent's latest rows, with a link to all of them."""

    formset = RecentInlineFormSet
    show_change_link = True
    can_delete = False
    limit = 20

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.limit = self.limit
        return formset

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields or ())


def changelist_links(links: list[tuple[type[models.Model], str]], **filters: Any) -> str:
    """Links to these models' changelists, each filtered by `filters` (exact lookups)."""
    return format_html_join(" · ", '<a href="{}?{}">{}</a>', (
        (reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"),
         urlencode(filters), label)
        for model, label in links
    ))
