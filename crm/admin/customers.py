"""Customers and what hangs off them: addresses, address sessions, referrals."""
from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse

from crm.admin.base import (
    RecentInline,
    TenantModelAdmin,
    TenantStackedInline,
    changelist_links,
)
from crm.admin.forms import TenantModelForm
from crm.admin.replies import ReplyForm, reply
from crm.admin.sites import site
from crm.models import (
    AddressCollectionSession,
    Customer,
    CustomerAddress,
    Message,
    Order,
    ReferrerTracking,
)


class CustomerForm(TenantModelForm):
    """The default address is one of the customer's own addresses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("default_address")
        if field is not None:
            field.queryset = (
                CustomerAddress.objects.none() if self.instance._state.adding
                else CustomerAddress.objects.filter(customer=self.instance)
            )


class CustomerAddressInline(TenantStackedInline):
    model = CustomerAddress
    fields = (
        ("full_name", "phone"), ("house_street", "locality"), ("city", "state", "pincode"),
        "landmark", ("address_type", "is_default", "is_verified"),
    )


class CustomerOrderInline(RecentInline):
    model = Order
    fields = ("timestamp", "status", "catalog_id", "shipping_address", "payment_completed_at")
    select_related = ("shipping_address",)
    verbose_name_plural = "latest orders"


class CustomerMessageInline(RecentInline):
    model = Message
    fields = ("timestamp", "sender_type", "type", "body", "caption")
    verbose_name_plural = "latest messages"


@admin.register(Customer, site=site)
class CustomerAdmin(TenantModelAdmin):
    form = CustomerForm
    list_display = (
        "__str__", "wa_id", "phone_1", "email", "customer_status", "user", "last_message_at",
        "next_followup_time", "created_at",
    )
    list_filter = ("customer_status", ("user", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("user",)
    search_fields = ("name", "wa_id", "phone_1", "phone_2", "email")
    date_hierarchy = "created_at"
    autocomplete_fields = ("user",)
    fieldsets = (
        (None, {"fields": ("name", "wa_id", ("phone_1", "phone_2"), "email", "customer_status",
                           "user", "default_address")}),
        ("Conversation", {"fields": ("last_message_at", "last_interaction_time",
                                     "last_message_type", "next_followup_time", "everything")}),
        ("Record", {"fields": ("created_at",)}),
    )
    readonly_fields = ("everything",)
    inlines = (CustomerAddressInline, CustomerOrderInline, CustomerMessageInline)
    change_form_template = "admin/crm/customer/change_form.html"

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.reply_view)
        return [path("<path:object_id>/reply/", view, name="crm_customer_reply"),
                *super().get_urls()]

    def reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Send a WhatsApp reply to the customer (crm.admin.replies), as the row's organization."""
        return self.in_row_organization(request, object_id, partial(reply, self), object_id)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False,
        change: bool = False, form_url: str = "", obj: Customer | None = None,
    ) -> HttpResponse:
        if obj is not None and not add and self.has_change_permission(request, obj):
            context["reply_form"] = ReplyForm()
            context["reply_url"] = reverse(f"{self.admin_site.name}:crm_customer_reply",
                                           args=[quote(obj.pk)])
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="All records")
    def everything(self, obj: Customer) -> str:
        if obj.pk is None or obj._state.adding:
            return "-"
        return changelist_links(
            [(Message, "messages"), (Order, "orders"), (CustomerAddress, "addresses")],
            customer__id__exact=obj.pk,
        )


@admin.register(CustomerAddress, site=site)
class CustomerAddressAdmin(TenantModelAdmin):
    list_display = (
        "full_name", "customer", "house_street", "city", "pincode", "phone", "is_default",
        "is_verified",
    )
    list_filter = ("is_default", "is_verified", "address_type", "city")
    list_select_related = ("customer",)
    search_fields = (
        "full_name", "house_street", "locality", "city", "pincode", "phone", "customer__name",
        "customer__wa_id",
    )
    autocomplete_fields = ("customer",)


@admin.register(AddressCollectionSession, site=site)
class AddressCollectionSessionAdmin(TenantModelAdmin):
    list_display = (
        "__str__", "customer", "order", "status", "collection_method", "created_at", "expires_at",
        "completed_at",
    )
    list_filter = ("status", "collection_method", "created_at")
    list_select_related = ("customer", "order")
    search_fields = ("customer__name", "customer__wa_id", "status")
    autocomplete_fields = ("customer", "order")


@admin.register(ReferrerTracking, site=site)
class ReferrerTrackingAdmin(TenantModelAdmin):
    list_display = (
        "wa_id", "customer", "center_name", "location", "treatment_type",
        "is_appointment_booked", "appointment_date", "created_at",
    )
    list_filter = ("is_appointment_booked", "center_name", "treatment_type", "created_at")
    list_select_related = ("customer",)
    search_fields = ("wa_id", "center_name", "location", "treatment_type", "customer__name")
    autocomplete_fields = ("customer",)
