"""WhatsApp numbers (with their secret token), flows, messages, templates and quick replies."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator

from crm.admin.base import TenantModelAdmin
from crm.admin.forms import TenantModelForm
from crm.admin.sites import site
from crm.models import Message, NumberFlowConfig, QuickReply, Template, WhatsAppNumber
from crm.roles import is_platform_staff
from crm.whatsapp import verification
from crm.whatsapp.media import clean_media_id, clean_mime_type


class SharedRowFilter(admin.SimpleListFilter):
    """Rows shared by every organization (no organization) or the organization's own."""

    title = "scope"
    parameter_name = "shared"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Shared by all organizations"), ("no", "Own")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(organization__isnull=self.value() == "yes")
        return queryset


class SharedColumnMixin:
    @admin.display(boolean=True, description="shared")
    def is_shared(self, obj: Any) -> bool:
        return obj.organization_id is None


class WhatsAppNumberForm(TenantModelForm):
    """The access token is write-only: a new one replaces it, the stored one is never shown."""

    new_access_token = forms.CharField(
        label="New access token", required=False, strip=True, max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The stored token is never shown. Enter a new one to replace it; leave empty "
        "to keep it.",
    )
    remove_access_token = forms.BooleanField(label="Remove the stored token", required=False)

    class Meta:
        model = WhatsAppNumber
        exclude = ("access_token",)

    def save(self, commit: bool = True) -> WhatsAppNumber:
        token = self.cleaned_data.get("new_access_token")
        if token:
            self.instance.access_token = token
        elif self.cleaned_data.get("remove_access_token"):
            self.instance.access_token = None
        return super().save(commit)


@admin.register(WhatsAppNumber, site=site)
class WhatsAppNumberAdmin(TenantModelAdmin):
    form = WhatsAppNumberForm
    list_display = (
        "__str__", "phone_number_id", "display_number", "access_token_status", "webhook_path",
        "is_active", "verification_status", "quality_rating", "messaging_limit_tier",
        "account_restriction", "created_at",
    )
    list_filter = ("is_active", "verification_status")
    search_fields = ("display_number", "phone_number_id", "webhook_path")
    # Meta's view of the number (Embedded Signup and the account webhooks); the PIN never shows.
    readonly_fields = ("access_token_status", "verification_status", "verified_at",
                       "verification_note", "quality_rating", "messaging_limit_tier",
                       "account_restriction", "account_updated_at")
    actions = ("mark_verified_by_hand",)

    def save_model(self, request: HttpRequest, obj: WhatsAppNumber, form: Any,
                   change: bool) -> None:
        """Saved, then checked with Meta when new or its id or token changed (now pending)."""
        super().save_model(request, obj, form, change)
        if not obj.is_verified:
            verification.verify_number(obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not is_platform_staff(request.user):
            actions.pop("mark_verified_by_hand", None)  # vouching is platform staff's call
        return actions

    @admin.action(description="Mark verified by hand (platform staff)")
    def mark_verified_by_hand(self, request: HttpRequest, queryset: Any) -> None:
        if not is_platform_staff(request.user):
            raise PermissionDenied
        vouched = [verification.mark_verified_by_hand(number, request.user.get_username())
                   for number in queryset]
        self.message_user(request, f"{sum(vouched)} number(s) marked verified by hand.")
        if not all(vouched):
            self.message_user(request, f"{len(vouched) - sum(vouched)} number(s) left pending: "
                              "see their verification note (an id that is not Meta's, or "
                              "another organization's verified row for that id).",
                              level=messages.WARNING)

    @admin.display(description="access token")
    def access_token_status(self, obj: WhatsAppNumber) -> str:
        return "set (hidden)" if obj.access_token else "not set"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [f for f in super().get_fields(request, obj)
                  if f not in ("access_token", "new_access_token", "remove_access_token")]
        may_write = self.has_change_permission(request, obj) if obj else (
            self.has_add_permission(request))
        if may_write:
            fields += ["new_access_token"] + (["remove_access_token"] if obj else [])
        return fields


@admin.register(NumberFlowConfig, site=site)
class NumberFlowConfigAdmin(TenantModelAdmin):
    list_display = (
        "flow_name", "flow_key", "phone_number", "display_number", "priority", "is_enabled",
        "auto_enable_from", "auto_enable_to",
    )
    list_filter = ("is_enabled", "flow_key")
    search_fields = ("flow_name", "flow_key", "display_number", "display_digits")


class MessageForm(TenantModelForm):
    """The media id names a stored file and the type says how it is served: both checked."""

    class Meta:
        model = Message
        fields = "__all__"

    def clean_media_id(self) -> str | None:
        return clean_media_id(self.cleaned_data.get("media_id"))

    def clean_mime_type(self) -> str | None:
        return clean_mime_type(self.cleaned_data.get("mime_type"))


@admin.register(Message, site=site)
class MessageAdmin(TenantModelAdmin):
    form = MessageForm
    list_display = (
        "short_id", "timestamp", "customer", "sender_type", "type", "short_body",
        "delivery_status",
    )
    list_filter = ("sender_type", "type", "delivery_status", "timestamp")
    list_select_related = ("customer",)
    search_fields = (
        "body", "caption", "message_id", "from_wa_id", "to_wa_id", "customer__name",
        "customer__wa_id",
    )
    date_hierarchy = "timestamp"
    autocomplete_fields = ("customer",)

    @admin.display(description="body")
    def short_body(self, obj: Message) -> str:
        return Truncator(obj.body or obj.caption or "").chars(60)

    @admin.display(description="message", ordering="id")
    def short_id(self, obj: Message) -> str:
        """wamids run to 60 characters: their end tells them apart, the full one is on the row."""
        wamid = obj.message_id or ""
        return f"#{obj.pk} …{wamid[-8:]}" if len(wamid) > 12 else f"#{obj.pk} {wamid}".strip()


@admin.register(Template, site=site)
class TemplateAdmin(SharedColumnMixin, TenantModelAdmin):
    """Shared templates (no organization) are read by all, changed in all-organizations mode."""

    list_display = ("template_name", "language", "category", "status", "is_shared",
                    "facebook_template_id", "updated_at")
    list_filter = (SharedRowFilter, "status", "category")
    search_fields = ("template_name", "facebook_template_id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:  # the template's identity on Meta: another name is another template
            readonly[:0] = [name for name in ("template_name", "language") if name not in readonly]
        return readonly


@admin.register(QuickReply, site=site)
class QuickReplyAdmin(TenantModelAdmin):
    list_display = ("title", "category", "short_content", "created_by", "created_at")
    list_filter = ("category",)
    list_select_related = ("created_by",)
    search_fields = ("title", "content", "category")
    readonly_fields = ("created_by",)

    @admin.display(description="content")
    def short_content(self, obj: QuickReply) -> str:
        return Truncator(obj.content).chars(60)

    def save_model(self, request: HttpRequest, obj: QuickReply, form: Any, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
