"""Every message stored one by one (replies from the inbox, the API, campaigns) is announced live.

The webhook store writes inbound messages in bulk (no signals) and announces them itself.
"""
from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from crm.inbox import events
from crm.models import Message


@receiver(post_save, sender=Message, dispatch_uid="crm.inbox.announce_message")
def announce_message(
    sender: type[Message], instance: Message, created: bool, **kwargs: Any
) -> None:
    """A new message of a conversation: its organization's inboxes refresh that conversation."""
    if created and instance.customer_id is not None and instance.organization_id is not None:
        events.publish(events.MESSAGE, instance.organization_id,
                       customers=[str(instance.customer_id)])
