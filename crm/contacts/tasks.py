"""Celery entry point of contacts: beat opens the conversations whose snooze has ended."""
from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from crm.contacts import services


@shared_task(name="crm.contacts.tasks.wake_snoozed_conversations")
def wake_snoozed_conversations() -> int:
    """Beat: open every organization's conversations whose snooze ended; return how many."""
    return services.wake_every_snoozed(timezone.now())
