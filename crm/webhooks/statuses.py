"""Delivery statuses of the messages we sent: forward only, one conditional UPDATE each.

Meta may report a status before the message it is about is stored (its webhook races the send's
own answer): such a status is kept in Redis for EARLY_SECONDS, under the organization and the
wamid, and applied when a message with that wamid is stored (`replay`).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from enum import Enum

import redis
from django.db.models import Q

from crm.shared_state import connection, key
from crm.inbox import events
from crm.models import Message
from crm.outgoing import emit, payloads
from crm.reports.pricing import record_pricing
from crm.webhooks.payload import StatusUpdate
from crm.whatsapp.errors import OptedOutError
from crm.whatsapp.optout import opt_out_recipient_of
from tenancy.context import get_current_organization_id

# sent < delivered < read < played (a voice message listened to); failed ranks last, so once
# failed nothing moves a message again.
RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 5}
EARLY_SECONDS = 600  # how long a status waits for its message
logger = logging.getLogger("crm.webhooks")


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
    record_pricing(update.wamid, update.pricing, update.conversation)
    # One statement decides and writes, so concurrent deliveries of statuses cannot interleave
    # between a read and a write and move a message backwards.
    applied = Message.objects.filter(message_id=update.wamid).filter(can_move).update(
        delivery_status=update.status,
        delivery_status_at=update.timestamp,
        error_code=update.error_code if failed else None,
        error_title=update.error_title if failed else None,
        error_details=update.error_details if failed else None,
    )
    if applied:
        if failed and update.error_code in OptedOutError.codes:
            opt_out_recipient_of(update.wamid, update.timestamp)
        events.publish(events.STATUS, message_id=update.wamid, status=update.status)
        emit("message.status", payloads.message_status(update))
        return Outcome.APPLIED
    # Only when nothing moved: was the status stale, or is the message not stored (yet)?
    if Message.objects.filter(message_id=update.wamid).exists():
        return Outcome.STALE
    _keep(update)
    if Message.objects.filter(message_id=update.wamid).exists():  # stored meanwhile after all
        replay([update.wamid])
    return Outcome.UNKNOWN_MESSAGE


def _early_key(wamid: str) -> str:
    return key("early-status", get_current_organization_id(), wamid)


def _keep(update: StatusUpdate) -> None:
    """Keep a status whose message is not stored, for `replay` once it is."""
    item = json.dumps({**asdict(update), "timestamp": update.timestamp.isoformat()})
    try:
        connection().pipeline().rpush(_early_key(update.wamid), item).expire(
            _early_key(update.wamid), EARLY_SECONDS).execute()
    except redis.RedisError as error:  # the status is lost, as it was before it could be kept
        logger.warning("early status %s of %s not kept: %s", update.status, update.wamid, error)


def replay(wamids: Iterable[str]) -> int:
    """Apply the statuses that arrived before these just-stored messages; how many applied."""
    wanted = [wamid for wamid in wamids if wamid]
    if not wanted:
        return 0
    pipe = connection().pipeline()
    for wamid in wanted:
        pipe.lrange(_early_key(wamid), 0, -1).delete(_early_key(wamid))
    try:
        found = pipe.execute()[::2]
    except redis.RedisError as error:
        logger.warning("early statuses not replayed: %s", error)
        return 0
    applied = 0
    for items in found:
        for item in map(json.loads, items):
            when = datetime.fromisoformat(item["timestamp"])
            update = StatusUpdate(**{**item, "timestamp": when})
            applied += apply_status(update) is Outcome.APPLIED
    return applied
