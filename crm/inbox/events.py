"""Live inbox events: published per organization on Redis pub/sub, after the transaction commits.

The channel name is derived from the active organization only, and a subscriber is handed the
channel of its request's organization only (`subscribe`), so no organization can receive
another's event. Events carry ids, never message content: clients re-read through the API or
the inbox pages, which apply the tenant layer and roles as usual.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

from tenancy.context import get_current_organization_id

logger = logging.getLogger("crm.inbox")

# Kinds of event: a new message in a conversation (inbound or outbound), a delivery status
# change, and a conversation's assignment or read marker changing.
MESSAGE = "message"
STATUS = "status"
CONVERSATION = "conversation"


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.INBOX_REDIS_URL, socket_timeout=5)


def channel(organization_id: uuid.UUID) -> str:
    """The pub/sub channel of one organization."""
    return f"{settings.INBOX_EVENTS_PREFIX}:org:{organization_id}"


def publish(kind: str, organization_id: uuid.UUID | None = None, **data: Any) -> None:
    """Announce an event to the organization's subscribers once the transaction commits.

    The organization is the active one unless the row's own is given. A failure to reach Redis
    is logged and does not undo or fail the write that caused it: the inbox also refreshes
    itself when its stream reconnects.
    """
    organization_id = organization_id or get_current_organization_id()
    if organization_id is None:
        raise RuntimeError("publish() runs inside the organization whose event it is")
    body = json.dumps({"type": kind, **data}, default=str)

    def send() -> None:
        try:
            _client().publish(channel(organization_id), body)
        except redis.RedisError as error:
            logger.warning("inbox event not published (%s): %s", kind, error)

    transaction.on_commit(send)


def subscribe(organization_id: uuid.UUID) -> Iterator[dict[str, Any] | None]:
    """Yield the organization's events as they arrive; None after each quiet heartbeat period.

    Ends after INBOX_STREAM_SECONDS (clients reconnect), so a worker is never held forever.
    """
    heartbeat = settings.INBOX_HEARTBEAT_SECONDS
    lifetime = settings.INBOX_STREAM_SECONDS
    pubsub = _client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel(organization_id))
    try:
        ends = time.monotonic() + lifetime
        while time.monotonic() < ends:
            message = pubsub.get_message(timeout=min(heartbeat, max(ends - time.monotonic(), 0)))
            if message is None:
                yield None
                continue
            yield json.loads(message["data"])
    finally:
        pubsub.close()
