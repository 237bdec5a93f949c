"""/api/v1/orders/: create an order from items (totals computed here), change its status by the
allowed moves, and send its Razorpay payment link (`payment-link/`)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.permissions import RolePermission
from crm.api.serializers import ModelSerializer, serializer_for
from crm.api.views import Conflict, TenantViewSet
from crm.models import (
    Customer,
    CustomerAddress,
    Message,
    Order,
    OrderItem,
    Payment,
    Product,
    Role,
)
from crm.orders import services, states
from crm.payments.services import send_payment_link
from crm.roles import is_platform_staff, role_of
from crm.visibility import visible_rows
from crm.whatsapp.refusals import Refused

REFUSED = inline_serializer("OrderRefused", {
    "detail": serializers.CharField(), "code": serializers.CharField(),
    "field": serializers.CharField(required=False)})
# What an agent may do to the orders of the conversations they see; the rest is ORG_ADMIN's.
AGENT_ACTIONS = frozenset({"create", "status", "payment_link"})


class OrderLineSerializer(ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ("id", "product", "name", "product_retailer_id", "quantity", "price",
                  "total_price", "currency")


class OrderRowSerializer(ModelSerializer):
    """An order as listed; the total and the status are the server's."""

    class Meta:
        model = Order
        fields = "__all__"
        read_only_fields = ("organization", "status", "total_amount", "currency",
                            "payment_completed_at", "updated_at")


class OrderSerializer(OrderRowSerializer):
    """One order with its items."""

    items = OrderLineSerializer(many=True, read_only=True)


class LineSerializer(serializers.Serializer):
    """A product of the catalog, or a free-form line with a name and a unit price."""

    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all(), required=False)
    name = serializers.CharField(max_length=255, required=False)
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2, required=False,
                                          min_value=Decimal("0.01"))
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, default=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "product" in attrs:
            if "unit_price" in attrs or "name" in attrs:
                raise serializers.ValidationError(
                    "Give a product, or a name and a unit_price, not both: a product's price "
                    "is the catalog's.")
            return attrs
        if "name" not in attrs or "unit_price" not in attrs:
            raise serializers.ValidationError("Give a product, or a name and a unit_price.")
        return attrs


class NewOrderSerializer(serializers.Serializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    items = LineSerializer(many=True, allow_empty=False, max_length=200)
    currency = serializers.ChoiceField(choices=["INR"], default="INR")
    shipping_address = serializers.PrimaryKeyRelatedField(
        queryset=CustomerAddress.objects.all(), required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        address = attrs.get("shipping_address")
        if address is not None and address.customer_id != attrs["customer"].pk:
            raise serializers.ValidationError(
                {"shipping_address": "Choose an address of the order's customer."})
        return attrs


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=states.STATES)


class OrderPermission(RolePermission):
    """Agents create orders, move them and send payment links; other writes by role."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if getattr(view, "action", None) in AGENT_ACTIONS:
            return role_of(request.user) in (Role.AGENT, Role.ORG_ADMIN) or (
                is_platform_staff(request.user))
        return super().has_permission(request, view)


def refused(refusal: Refused) -> Response:
    """The API answer of a refusal."""
    return Response(refusal.as_json(), status=refusal.status)


class OrderViewSet(TenantViewSet):
    """Orders; created from items, moved by `status/`, paid through `payment-link/`."""

    permission_classes = (OrderPermission,)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # A list shows no items: one query per page, not one per order.
        return OrderRowSerializer if self.action == "list" else OrderSerializer

    @extend_schema(request=NewOrderSerializer, responses={201: OrderSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """{"customer": id, "items": [{"product": id, "quantity": 1} or {"name": ...,
        "quantity": 2, "unit_price": 500}]}: a pending order, its total computed here."""
        wanted = NewOrderSerializer(data=request.data)
        # Only the customers and products the caller sees (another organization's: 400).
        wanted.fields["customer"].queryset = visible_rows(request.user, Customer.objects.all())
        wanted.fields["shipping_address"].queryset = visible_rows(
            request.user, CustomerAddress.objects.all())
        wanted.is_valid(raise_exception=True)
        data = wanted.validated_data
        lines = [services.Line(quantity=line["quantity"], product=line.get("product"),
                               name=line.get("name"), unit_price=line.get("unit_price"))
                 for line in data["items"]]
        order = services.create_order(data["customer"], lines, currency=data["currency"],
                                      shipping_address=data.get("shipping_address"))
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=StatusSerializer, responses={200: OrderSerializer, 409: REFUSED})
    @action(detail=True, methods=["post"])
    def status(self, request: Request, **kwargs: Any) -> Response:
        """Move the order (pending, awaiting_payment, paid, fulfilled, cancelled, refunded) by
        the allowed moves only: 409 otherwise."""
        order: Order = self.get_object()
        wanted = StatusSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        try:
            order = services.set_status(order, wanted.validated_data["status"])
        except Refused as refusal:
            return refused(refusal)
        return Response(OrderSerializer(order).data)

    @extend_schema(request=None, responses={201: inline_serializer("PaymentLinkSent", {
        "payment": serializer_for(Payment)(), "message": serializer_for(Message)(allow_null=True),
        "sent": serializers.BooleanField(), "send_error": REFUSED}), 400: REFUSED,
        409: REFUSED, 502: REFUSED}, summary="Create the order's Razorpay payment link and "
                                             "send it to the customer on WhatsApp")
    @action(detail=True, methods=["post"], url_path="payment-link")
    def payment_link(self, request: Request, **kwargs: Any) -> Response:
        """400 when Razorpay is not configured, 409 when the order is already paid."""
        order: Order = self.get_object()
        try:
            sent = send_payment_link(order, user=request.user)
        except Refused as refusal:
            return refused(refusal)
        return Response({
            "payment": serializer_for(Payment)(sent.payment).data,
            "message": serializer_for(Message)(sent.message).data if sent.message else None,
            "sent": sent.message is not None,
            "send_error": sent.refusal.as_json() if sent.refusal else None,
        }, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Order) -> None:
        if states.current(instance.status) in states.SETTLED:
            raise Conflict("A paid order is kept for the books: refund or fulfil it instead.")
        super().perform_destroy(instance)
