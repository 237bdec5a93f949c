"""Labels and custom attribute definitions (ORG_ADMIN writes, agents read), checked on save like
the API's; customers' labels and the team's notes. All are worked in the inbox's contact panel
too."""
from __future__ import annotations

from django.contrib import admin

from crm.admin.base import ReadOnlyMixin, TenantModelAdmin
from crm.admin.sites import site
from crm.models import AttributeDefinition, ConversationNote, CustomerLabel, Label


@admin.register(Label, site=site)
class LabelAdmin(TenantModelAdmin):
    list_display = ("name", "color", "created_at")
    search_fields = ("name",)
    fields = ("name", "color")


@admin.register(AttributeDefinition, site=site)
class AttributeDefinitionAdmin(TenantModelAdmin):
    list_display = ("key", "label", "type", "created_at")
    list_filter = ("type",)
    search_fields = ("key", "label")
    fields = ("key", "label", "type", "choices")


@admin.register(CustomerLabel, site=site)
class CustomerLabelAdmin(TenantModelAdmin):
    list_display = ("customer", "label", "created_at")
    list_filter = ("label",)
    list_select_related = ("customer", "label")
    search_fields = ("customer__wa_id", "customer__name", "label__name")
    autocomplete_fields = ("customer",)
    fields = ("customer", "label")


@admin.register(ConversationNote, site=site)
class ConversationNoteAdmin(ReadOnlyMixin, TenantModelAdmin):
    """Notes are written in the inbox (mentions are found there); here they are read."""

    list_display = ("created_at", "customer", "author", "body")
    list_select_related = ("customer", "author")
    search_fields = ("customer__wa_id", "body")
    date_hierarchy = "created_at"
    readonly_fields = ("customer", "author", "body", "mentions", "created_at")
    fields = readonly_fields
