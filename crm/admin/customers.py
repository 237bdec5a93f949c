"""Customers and what hangs off them: addresses, address sessions, referrals."""
from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from crm.admin.base import (
    RecentInline,
    TenantModelAdmin,
    TenantStackedInline,
    changelist_links,
)
from crm.admin.forms import TenantModelForm
from crm.admin.replies import ReplyForm, reply
from crm.admin.sites import site
from crm.inbox import services
from crm.models import (
    AddressCollectionSession,
    Customer,
    CustomerAddress,
    Message,
    Order,
    ReferrerTracking,
)


class CustomerForm(TenantModelForm):
    """The default address is one of the customer's own addresses; the assignee changes by the
    inbox's assignment rules (crm.inbox.services)."""

    assigned_by: Any = None  # the signed-in user, set by CustomerAdmin.get_form

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("default_address")
        if field is not None:
            field.queryset = (
                CustomerAddress.objects.none() if self.instance._state.adding
                else CustomerAddress.objects.filter(customer=self.instance)
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "user" in self.changed_data:
            if self.instance.organization_id is None:
                self.instance.organization_id = self._form_organization_id()
            try:
                services.check_assignment(self.instance, cleaned.get("user"), by=self.assigned_by)
            except services.NotAllowed as refusal:
                self.add_error("user", str(refusal))
        return cleaned


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
        "__str__", "phone_1", "customer_status", "user", "last_message_at", "next_followup_time",
        "inbox_link",
    )
    # Whoever wrote last comes first (the tenant-leading activity index serves this order).
    ordering = ("-last_message_at", "-id")
    list_filter = ("customer_status", ("user", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("user",)
    search_fields = ("name", "wa_id", "phone_1", "phone_2", "email")
    date_hierarchy = "created_at"
    autocomplete_fields = ("user",)
    fieldsets = (
        (None, {"fields": ("name", "wa_id", ("phone_1", "phone_2"), "email", "customer_status",
                           "user", "default_address")}),
        ("Conversation", {"fields": ("inbox_link", "next_followup_time", "last_message_at",
                                     "last_interaction_time", "last_message_type",
                                     "last_inbound_at", "business_number", "last_read_at",
                                     "everything")}),
        ("Record", {"fields": ("created_at",)}),
    )
    # Kept by the system (the webhook, sending, the inbox): shown, never typed in.
    readonly_fields = ("inbox_link", "last_message_at", "last_interaction_time",
                       "last_message_type", "last_inbound_at", "business_number",
                       "last_read_at", "everything")

    @admin.display(description="Inbox")
    def inbox_link(self, obj: Customer) -> str:
        if obj.pk is None or obj._state.adding:
            return "-"
        return format_html('<a href="{}">Open conversation</a>',
                           reverse("inbox:conversation", args=[obj.pk]))
    inlines = (CustomerAddressInline, CustomerOrderInline, CustomerMessageInline)
    change_form_template = "admin/crm/customer/change_form.html"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"assigned_by": request.user})

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        """A changed assignee goes through the assignment service (its rules, its event)."""
        if "user" not in form.changed_data:
            super().save_model(request, obj, form, change)
            return
        assignee = obj.user
        obj.user_id = form.initial.get("user")
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            services.assign(obj, assignee, by=request.user)

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
