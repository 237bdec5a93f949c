"""Celery entry points of payments: beat's reconciliation of payment links."""
from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from crm.payments import reconcile


@shared_task(name="crm.payments.tasks.reconcile_payment_links")
def reconcile_payment_links() -> int:
    """Beat: ask Razorpay about open links an hour old or expired; how many were asked about."""
    return reconcile.reconcile(timezone.now())
