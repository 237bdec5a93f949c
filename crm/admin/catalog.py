"""The shared product catalog and media files: SUPER_ADMIN edits, organization staff read."""
from __future__ import annotations

from django.contrib import admin

from crm.admin.base import SharedModelAdmin
from crm.admin.sites import site
from crm.models import Category, Cost, File, Product, SubCategory


class SubCategoryInline(admin.TabularInline):
    model = SubCategory
    fields = ("name", "slug", "description")
    extra = 0


@admin.register(Category, site=site)
class CategoryAdmin(SharedModelAdmin):
    list_display = ("name", "slug", "created_at", "updated_at")
    search_fields = ("name", "slug", "description")
    inlines = (SubCategoryInline,)


@admin.register(SubCategory, site=site)
class SubCategoryAdmin(SharedModelAdmin):
    list_display = ("name", "category", "slug", "created_at")
    list_filter = ("category",)
    list_select_related = ("category",)
    search_fields = ("name", "slug", "category__name")


@admin.register(Product, site=site)
class ProductAdmin(SharedModelAdmin):
    list_display = ("name", "sku", "price", "stock", "category", "sub_category", "updated_at")
    list_filter = ("category", "sub_category")
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
