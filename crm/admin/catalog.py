"""The product catalog (an organization's own rows, and shared rows only platform staff change in
all-organizations mode), costs and media files (SUPER_ADMIN edits, organization staff read)."""
from __future__ import annotations

from django.contrib import admin

from crm.admin.base import SharedModelAdmin, TenantModelAdmin, TenantTabularInline
from crm.admin.messaging import SharedColumnMixin, SharedRowFilter
from crm.admin.sites import site
from crm.models import Category, Cost, File, Product, SubCategory


class SubCategoryInline(TenantTabularInline):
    model = SubCategory
    fields = ("name", "slug", "description")


@admin.register(Category, site=site)
class CategoryAdmin(SharedColumnMixin, TenantModelAdmin):
    list_display = ("name", "slug", "is_shared", "created_at", "updated_at")
    list_filter = (SharedRowFilter,)
    search_fields = ("name", "slug", "description")
    inlines = (SubCategoryInline,)


@admin.register(SubCategory, site=site)
class SubCategoryAdmin(SharedColumnMixin, TenantModelAdmin):
    list_display = ("name", "category", "slug", "is_shared", "created_at")
    list_filter = (SharedRowFilter, "category")
    list_select_related = ("category",)
    search_fields = ("name", "slug", "category__name")


@admin.register(Product, site=site)
class ProductAdmin(SharedColumnMixin, TenantModelAdmin):
    list_display = ("name", "sku", "price", "stock", "category", "sub_category", "is_shared",
                    "updated_at")
    list_filter = (SharedRowFilter, "category", "sub_category")
    list_select_related = ("category", "sub_category")
    search_fields = ("name", "sku", "description")
    autocomplete_fields = ("category", "sub_category")


@admin.register(Cost, site=site)
class CostAdmin(SharedModelAdmin):
    list_display = ("type", "price")
    search_fields = ("type",)


@admin.register(File, site=site)
class FileAdmin(SharedModelAdmin):
    list_display = ("name", "id", "mimetype", "created_at")
    list_filter = ("mimetype",)
    search_fields = ("name", "id")
