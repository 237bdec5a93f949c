"""Forms of the admin: sign-in with an organization code, and the rules every tenant form keeps."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput

from crm.accounts import signin
from crm.auth import matching_users
from crm.storable import PROBLEM, unstorable
from tenancy.context import get_current_organization_id, unscoped
from tenancy.guards import is_tenant_model


class OrganizationAuthenticationForm(AdminAuthenticationForm):
    """Username, password and, for a username used in several organizations, the code."""

    organization = forms.CharField(
        label="Organization code", required=False, max_length=50,
        help_text="Only needed when your username exists in several organizations.",
    )
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": (
            "Please enter the correct %(username)s and password for a staff account, and your "
            "organization code if your username is used in several organizations. Fields may "
            "be case-sensitive."
        ),
        "inactive_organization": (
            "Your organization is inactive, so its staff cannot sign in. Please contact the "
            "platform team."
        ),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        code = self.cleaned_data.get("organization") or None
        if username is not None and password:
            try:
                signin.check(username, self.request)
            except signin.LockedOut as locked:
                raise ValidationError(str(locked), code="locked_out") from None
            self.user_cache = authenticate(
                self.request, username=username, password=password, organization=code
            )
            if self.user_cache is None:
                if self._in_inactive_organization(username, password, code):
                    raise ValidationError(
                        self.error_messages["inactive_organization"], code="inactive_organization"
                    )
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    @staticmethod
    def _in_inactive_organization(username: str, password: str, code: str | None) -> bool:
        """Whether these exact credentials are those of staff of an inactive organization.

        Said only to someone who knows the password. Every failed sign-in pays for the password
        hashes here, so the answer's timing does not tell which usernames exist.
        """
        matches = matching_users(username, password, code)  # no hash upgrade: nothing is saved
        return len(matches) == 1 and matches[0].organization_id is not None and (
            not matches[0].organization.is_active
        )


class StorableJSONField(forms.JSONField):
    """A JSON column's textarea: JSON nested too deeply, or holding a NUL, a lone surrogate or
    a number out of range (which PostgreSQL refuses), is a form error, shown back as typed."""

    def to_python(self, value: Any) -> Any:
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        where = unstorable(converted)
        if where is not None:
            raise ValidationError(f"{where}: {PROBLEM}.", code="unstorable")
        return converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Shown back as typed: decoded, such a value could not even be rendered (a lone
        # surrogate cannot be encoded in the page, a deep one cannot be encoded at all).
        try:
            value = super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)
        if unstorable(value) is not None and isinstance(data, str):
            return InvalidJSONInput(data)
        return value


def _other_organization(value: models.Model, organization_id: Any) -> bool:
    """Whether a chosen related row belongs to another organization than the form's row."""
    if not is_tenant_model(type(value)):
        return False
    if value.organization_id is None:
        return not type(value).null_organization_allowed()
    return value.organization_id != organization_id


class TenantFormMixin:
    """Rules of every form that writes a tenant row (admin forms and inline forms).

    - A new row belongs to the active organization before it is validated, so the per-organization
      unique constraints (wa_id, zoho_lead_id, ...) are checked, in that organization.
    - Every related row chosen belongs to the row's organization. The choices are scoped already;
      this matters in "all organizations" mode, where platform staff choose the organization.
    - A column unique across organizations (Meta's phone_number_id, a template name) is reported
      as a form error instead of failing at the database.
    """

    def _form_organization_id(self) -> Any:
        if "organization" in self.fields:
            chosen = self.cleaned_data.get("organization")
            return chosen.pk if chosen is not None else None
        return self.instance.organization_id or get_current_organization_id()

    def _post_clean(self) -> None:
        if (
            self.instance._state.adding
            and self.instance.organization_id is None
            and "organization" not in self.fields
        ):
            self.instance.organization_id = get_current_organization_id()
        super()._post_clean()

    def _get_validation_exclusions(self) -> set[str]:
        exclude = super()._get_validation_exclusions()
        if self.instance.organization_id is not None:
            exclude.discard("organization")  # constraints include it: check them per organization
        return exclude

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization_id = self._form_organization_id()
        for name, value in list(cleaned.items()):
            if name == "organization" or not isinstance(value, models.Model):
                continue
            if _other_organization(value, organization_id):
                self.add_error(name, "Choose a row of the same organization.")
        self._check_global_uniques(cleaned)
        return cleaned

    def _check_global_uniques(self, cleaned: dict[str, Any]) -> None:
        model = self._meta.model
        for field in model._meta.concrete_fields:
            value = cleaned.get(field.name)
            if not field.unique or field.name == "organization" or value in (None, ""):
                continue
            # The database refuses a duplicate in any organization (migration notes: these
            # columns stay globally unique). Only whether the value is taken is said, not where.
            with unscoped():
                taken = model._base_manager.filter(**{field.name: value})
                if not self.instance._state.adding:
                    taken = taken.exclude(pk=self.instance.pk)
                if taken.exists():
                    self.add_error(field.name, f"This {field.verbose_name} is already in use.")


class TenantModelForm(TenantFormMixin, forms.ModelForm):
    """The default form of tenant model admins and inlines."""
