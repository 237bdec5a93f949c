"""Delivery statuses of the messages we sent: forward only, one conditional UPDATE each."""
from __future__ import annotations

from enum import Enum

from django.db.models import Q

from crm.models import Message
from crm.webhooks.payload import StatusUpdate
from crm.whatsapp.errors import OptedOutError
from crm.whatsapp.optout import opt_out_recipient_of

# sent < delivered < read; failed ranks last, so once failed nothing moves a message again.
RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


class Outcome(Enum):
    """What a status update did."""

    APPLIED = "applied"
    STALE = "stale"  # the message is already at this status or further on
    UNKNOWN_MESSAGE = "unknown message"


def apply_status(update: StatusUpdate) -> Outcome:
    """Move the active organization's message(s) with this wamid forward to `update.status`."""
    behind = [status for status, rank in RANK.items() if rank < RANK[update.status]]
    can_move = Q(delivery_status__isnull=True)
    if behind:
        can_move |= Q(delivery_status__in=behind)
    failed = update.status == "failed"
    # One statement decides and writes, so concurrent deliveries of statuses cannot interleave
    # between a read and a write and move a message backwards.
    applied = Message.objects.filter(message_id=update.wamid).filter(can_move).update(
        delivery_status=update.status,
        delivery_status_at=update.timestamp,
        error_code=update.error_code if failed else None,
        error_title=update.error_title if failed else None,
    )
    if applied:
        if failed and update.error_code in OptedOutError.codes:
            opt_out_recipient_of(update.wamid, update.timestamp)
        return Outcome.APPLIED
    # Only when nothing moved: was the status stale, or is the message not ours at all?
    if Message.objects.filter(message_id=update.wamid).exists():
        return Outcome.STALE
    return Outcome.UNKNOWN_MESSAGE
