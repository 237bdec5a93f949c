"""Orders with their items, payments and gateway transactions; gateway webhook events
(read-only)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, Subquery, Sum
from django.http import HttpRequest

from crm.admin.base import LogAdmin, TenantModelAdmin, TenantTabularInline
from crm.admin.forms import TenantModelForm
from crm.admin.sites import site
from crm.models import (
    CustomerAddress,
    Order,
    OrderItem,
    Payment,
    PaymentEvent,
    PaymentTransaction,
)


class OrderForm(TenantModelForm):
    """The shipping address is one of the order's customer's addresses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("shipping_address")
        if field is not None and self.instance.customer_id is not None:
            field.queryset = CustomerAddress.objects.filter(customer_id=self.instance.customer_id)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        customer, address = cleaned.get("customer"), cleaned.get("shipping_address")
        if customer is not None and address is not None and address.customer_id != customer.pk:
            self.add_error("shipping_address", "Choose an address of the order's customer.")
        return cleaned


class OrderItemInline(TenantTabularInline):
    model = OrderItem
    fields = ("product", "name", "product_retailer_id", "quantity", "item_price", "price",
              "total_price", "currency", "is_modification_addition")
    autocomplete_fields = ("product",)
    select_related = ("product",)


class PaymentInline(TenantTabularInline):
    model = Payment
    fields = ("amount", "currency", "status", "razorpay_id", "razorpay_short_url",
              "notification_sent", "created_at")


class PaymentTransactionInline(TenantTabularInline):
    model = PaymentTransaction
    fields = ("transaction_id", "payment_gateway", "payment_method", "amount", "currency",
              "status", "gateway_transaction_id", "created_at")


@admin.register(Order, site=site)
class OrderAdmin(TenantModelAdmin):
    form = OrderForm
    list_display = ("label", "status", "total_amount", "items_total", "catalog_id",
                    "payment_completed_at")
    list_filter = ("status", "timestamp", "payment_completed_at")
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__wa_id", "catalog_id", "status")
    date_hierarchy = "timestamp"
    autocomplete_fields = ("customer",)
    inlines = (OrderItemInline, PaymentInline, PaymentTransactionInline)

    @admin.display(description="order", ordering="timestamp")
    def label(self, obj: Order) -> str:
        """An order by its customer and date: its UUID tells a person nothing."""
        when = obj.timestamp.strftime("%d %b %Y %H:%M") if obj.timestamp else "undated"
        return f"{obj.customer or 'no customer'} · {when}"

    def get_queryset(self, request: HttpRequest) -> Any:
        totals = (
            OrderItem.objects.filter(order=OuterRef("pk")).values("order")
            .annotate(total=Sum("total_price")).values("total")
        )
        return super().get_queryset(request).annotate(_items_total=Subquery(totals))

    @admin.display(description="items total", ordering="_items_total")
    def items_total(self, obj: Order) -> Any:
        total = getattr(obj, "_items_total", None)
        return "-" if total is None else f"{total:,.2f}"


@admin.register(OrderItem, site=site)
class OrderItemAdmin(TenantModelAdmin):
    list_display = ("__str__", "order", "product", "quantity", "item_price", "total_price",
                    "currency", "created_at")
    list_filter = ("currency", "is_modification_addition", "created_at")
    list_select_related = ("order", "product")
    search_fields = ("product_retailer_id", "product__name", "product__sku")
    autocomplete_fields = ("order", "product")


@admin.register(Payment, site=site)
class PaymentAdmin(TenantModelAdmin):
    list_display = ("__str__", "order", "amount", "currency", "status", "razorpay_id",
                    "notification_sent", "created_at")
    list_filter = ("status", "currency", "notification_sent", "created_at")
    list_select_related = ("order",)
    search_fields = ("razorpay_id", "razorpay_short_url", "status")
    date_hierarchy = "created_at"
    autocomplete_fields = ("order",)


@admin.register(PaymentTransaction, site=site)
class PaymentTransactionAdmin(TenantModelAdmin):
    list_display = ("transaction_id", "order", "payment_gateway", "payment_method", "amount",
                    "currency", "status", "created_at")
    list_filter = ("status", "payment_gateway", "payment_method", "created_at")
    list_select_related = ("order",)
    search_fields = ("transaction_id", "gateway_transaction_id")
    date_hierarchy = "created_at"
    autocomplete_fields = ("order",)


@admin.register(PaymentEvent, site=site)
class PaymentEventAdmin(LogAdmin):
    list_display = ("received_at", "provider", "event", "event_id", "order", "outcome")
    list_filter = ("provider", "event", "received_at")
    list_select_related = ("order",)
    search_fields = ("event_id", "event", "outcome")
    date_hierarchy = "received_at"
