"""Labels and custom attribute definitions (ORG_ADMIN writes, agents read); checked on save like
the API's. Customers' labels, attributes and notes are worked in the inbox's contact panel."""
from __future__ import annotations

from django.contrib import admin

from crm.admin.base import TenantModelAdmin
from crm.admin.sites import site
from crm.models import AttributeDefinition, Label


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
