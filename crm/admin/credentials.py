"""Integration credentials in the back office: plain fields as JSON, secrets typed in and never
shown again (a blank secrets box keeps the stored ones), and an action that tests them."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from crm import audit
from crm.admin.base import TenantModelAdmin
from crm.admin.forms import StorableJSONField, TenantModelForm
from crm.admin.sites import site
from crm.integrations import credentials, registry
from crm.integrations.errors import IntegrationError
from crm.models import IntegrationCredential
from tenancy.context import tenant_context


class IntegrationCredentialForm(TenantModelForm):
    """Provider, plain fields and, write-only, the secrets; checked like the API's PUT."""

    provider = forms.ChoiceField(choices=lambda: [(name, name) for name in registry.names()])
    new_secrets = StorableJSONField(
        required=False, label="Secrets",
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text='A JSON object such as {"key_secret": "...", "webhook_secret": "..."}. Never '
                  "shown again; left empty, the stored secrets stay.")

    class Meta:
        model = IntegrationCredential
        fields = ("provider", "config")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["new_secrets"] = None  # what was typed is never rendered back

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        provider = cleaned.get("provider") or self.instance.provider
        config, new_secrets = cleaned.get("config"), cleaned.get("new_secrets")
        if not isinstance(config, dict):
            self.add_error("config", 'Type a JSON object of the fields, such as {"key_id": '
                                     '"rzp_test_..."}.')
        if new_secrets not in (None, "") and not isinstance(new_secrets, dict):
            self.add_error("new_secrets", "Type a JSON object of the secrets.")
        if self.errors or not provider:
            return cleaned
        try:
            self.instance.config, self.instance.secrets = credentials.prepare(
                provider, {**config, **(new_secrets or {})}, self.instance.secrets)
        except IntegrationError as error:
            self.add_error(None, str(error))
        cleaned["config"] = self.instance.config
        return cleaned


@admin.register(IntegrationCredential, site=site)
class IntegrationCredentialAdmin(TenantModelAdmin):
    """One row per provider; saving sets the status back to untested."""

    form = IntegrationCredentialForm
    list_display = ("provider", "status", "status_reason", "updated_at")
    list_filter = ("provider", "status")
    fields = ("provider", "config", "new_secrets", "status", "status_reason")
    readonly_fields = ("status", "status_reason")
    actions = ("test_credentials",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "provider"] if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.status, obj.status_reason = IntegrationCredential.Status.UNTESTED, ""
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            with tenant_context(obj.organization_id):
                credentials.audited(obj.provider, replaced=change, by=request.user)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic(), tenant_context(obj.organization_id):
            super().delete_model(request, obj)
            audit.record(audit.CREDENTIALS_DELETED, actor=request.user, provider=obj.provider)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for row in queryset:
            self.delete_model(request, row)

    @admin.action(description="Test the selected credentials (one harmless call each)")
    def test_credentials(self, request: HttpRequest, queryset: Any) -> None:
        for row in queryset:
            with tenant_context(row.organization_id):
                try:
                    row = credentials.check(row.provider)
                except IntegrationError as error:
                    self.message_user(request, f"{row.provider}: {error}", messages.ERROR)
                    continue
            level = messages.SUCCESS if row.status == row.Status.OK else messages.WARNING
            self.message_user(request, f"{row.provider}: {row.status} {row.status_reason}",
                              level)
