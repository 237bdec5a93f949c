"""Webhook deliveries as Meta sent them: made durable before 200 is answered, processed after.

A platform table (no organization): a delivery is written before anyone knows whose it is (the
receiving number decides, in the worker), and one delivery may hold several organizations'
messages. Only platform staff see it (crm.roles: a shared table outside the catalog).
"""
from __future__ import annotations

from django.db import models
from django.db.models import Q


class DeliveryState(models.TextChoices):
    """Where a delivery is: waiting for a worker, processed, or given up after its last try."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class InboundDelivery(models.Model):
    """One signed POST of Meta's webhook: its body exactly as received, and what became of it."""

    id = models.BigAutoField(primary_key=True)
    received_at = models.DateTimeField()
    body = models.TextField(help_text="The request body as received (signed by Meta).")
    # "<phone_number_id>:<sender>" of each customer the delivery carries: workers keep each
    # customer's deliveries in received order by these.
    senders = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=10, choices=DeliveryState.choices,
                             default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    report = models.JSONField(null=True, blank=True,
                              help_text="What processing stored and ignored (ids and reasons).")

    class Meta:
        db_table = "inbound_deliveries"
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The workers' queue: only waiting rows, in received order.
            models.Index(fields=["id"], name="webhook_pending_idx",
                         condition=Q(state="pending")),
            models.Index(fields=["received_at"], name="webhook_received_idx"),
            models.Index(fields=["state", "received_at"], name="webhook_state_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"
