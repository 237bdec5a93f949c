"""Orders placed over WhatsApp, their items and payments."""
from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from crm.fields import UTCDateTimeField, VarCharField
from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantModel


class Order(TenantModel):
    """A customer's order from the WhatsApp catalog."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = models.ForeignKey(
        "Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    catalog_id = VarCharField(null=True, blank=True)
    timestamp = UTCDateTimeField(null=True, blank=True, db_index=True)
    shipping_address = models.ForeignKey(
        "CustomerAddress", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )
    status = models.CharField(
        max_length=20, null=True, blank=True, default="pending", db_index=True
    )
    payment_completed_at = UTCDateTimeField(null=True, blank=True)
    modification_started_at = UTCDateTimeField(null=True, blank=True)
    # crm.0026: the total the server computed from the items (wb-crm's inbound carts have none
    # until an agent or the API prices them), and its currency.
    total_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, null=True, blank=True, default="INR")
    updated_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "orders"
        ordering = ["-timestamp"]
        indexes = [
            models.Index(fields=["organization", "-timestamp"], name="orders_org_timestamp_idx")
        ]

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"


class OrderItem(TenantModel):
    """One line of an order."""

    id = models.AutoField(primary_key=True)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="items",
        db_index=False,
    )
    product = models.ForeignKey(
        "Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )
    product_retailer_id = VarCharField(null=True, blank=True)
    name = VarCharField(null=True, blank=True)  # crm.0026: a free-form line ("Consultation")
    quantity = models.IntegerField(default=1)
    price = models.FloatField(null=True, blank=True)
    total_price = models.FloatField(null=True, blank=True)
    item_price = models.FloatField(null=True, blank=True)
    currency = VarCharField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    is_modification_addition = models.BooleanField(default=False)
    modification_timestamp = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("order"),)

    class Meta:
        db_table = "order_items"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_retailer_id or self.product_id}"


class Payment(TenantModel):
    """A payment link (Razorpay) for an order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.CASCADE, related_name="payments"
    )
    amount = models.FloatField()
    currency = models.CharField(max_length=10, default="INR")
    razorpay_id = VarCharField(null=True, blank=True, db_index=True)
    razorpay_short_url = VarCharField(null=True, blank=True)
    status = VarCharField(default="created", db_index=True)
    notification_sent = models.BooleanField(null=True, blank=True, default=False)
    created_at = UTCDateTimeField(null=True, blank=True, db_index=True)
    updated_at = UTCDateTimeField(null=True, blank=True)
    # crm.0026: when the link expires, and when beat last asked Razorpay about it (lost webhooks).
    expires_at = UTCDateTimeField(null=True, blank=True)
    checked_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("order"),)

    class Meta:
        db_table = "payments"
        ordering = ["-created_at"]
        indexes = [
            # Beat's reconciliation: links still open, oldest first.
            models.Index(fields=["created_at"], name="payments_open_links_idx",
                         condition=models.Q(status="created")),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.status})"


class PaymentTransaction(TenantModel):
    """A gateway transaction; transaction_id is unique per organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    transaction_id = models.CharField(max_length=100)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions",
        db_index=False,
    )
    payment_method = models.CharField(max_length=50)
    payment_gateway = models.CharField(max_length=50)
    amount = models.FloatField()
    currency = models.CharField(max_length=3, null=True, blank=True, default="INR")
    status = models.CharField(max_length=50, null=True, blank=True, default="pending")
    gateway_transaction_id = models.CharField(max_length=100, null=True, blank=True)
    gateway_response = models.JSONField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("order"),)

    class Meta:
        db_table = "payment_transactions"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "transaction_id"], name="payment_tx_org_tx_id_uniq"
            )
        ]

    def __str__(self) -> str:
        return self.transaction_id


class PaymentEvent(TenantModel):
    """A gateway webhook event, kept once per event id: a retried delivery changes nothing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=100)
    event = models.CharField(max_length=100)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", db_index=False)
    outcome = models.TextField()
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payment_events"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "provider", "event_id"],
                                    name="payment_events_once"),
        ]
        indexes = [models.Index(fields=["organization", "order"], name="payment_events_order_idx")]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}: {self.outcome}"
