"""Live inbox events: published per organization on Redis pub/sub, after the transaction commits.

The channel name is derived from the active organization only, and a subscriber is handed the
channel of its request's organization only (`subscribe`), so no organization can receive
another's event. Events carry ids, never message content: clients re-read through the API or
the inbox pages, which apply the tenant layer and roles as usual.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from functools import cache
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


@cache
def _publisher(url: str) -> redis.Redis:
    """One client (a connection pool) per process and URL: an event is not a new connection."""
    return redis.Redis.from_url(url, socket_timeout=5)


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
            _publisher(settings.INBOX_REDIS_URL).publish(channel(organization_id), body)
        except redis.RedisError as error:
            logger.warning("inbox event not published (%s): %s", kind, error)

    transaction.on_commit(send)


class StreamRefused(Exception):
    """No stream now: too many are open (429), or Redis cannot be reached (503)."""

    def __init__(self, message: str, status: int, retry_after: int) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


# Streams this process serves at once (a thread each under gunicorn's gthread workers): below the
# threads, so pages and API calls always find one (see INBOX_STREAMS_PER_PROCESS).
_process_lock = threading.Lock()
_process_open = 0

# Each open stream is a member of a sorted set per user and per organization, scored by when it
# expires: Redis's clock decides for every worker and machine, and a stream whose process died
# without closing it stops counting once its lifetime is over. Returns the index (1-based) of
# the first full set, or 0 once the stream is counted in all of them.
_ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local lifetime = tonumber(ARGV[#KEYS + 1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lifetime, ARGV[#KEYS + 2])
  redis.call('EXPIRE', key, math.ceil(lifetime))
end
return 0
"""


def _retry_after() -> int:
    """Seconds after which a slot may be free: a client gone without closing is noticed at the
    second heartbeat it cannot be sent."""
    return max(1, math.ceil(2 * settings.INBOX_HEARTBEAT_SECONDS))


def _take_process_slot() -> None:
    global _process_open
    with _process_lock:
        if _process_open >= settings.INBOX_STREAMS_PER_PROCESS:
            raise StreamRefused(
                "This server holds as many live streams as it may: the inbox refreshes by "
                "itself and tries again later.", 429, _retry_after())
        _process_open += 1


def _release_process_slot() -> None:
    global _process_open
    with _process_lock:
        _process_open -= 1


class Stream:
    """One client's open stream of its organization's events, counted under the caps.

    Opening it counts it (per process, per user, per organization: StreamRefused when one is
    full) and subscribes before anything is sent, so no event published after the client got
    its first bytes is missed. Iterating yields events, and None after each quiet heartbeat
    period, until INBOX_STREAM_SECONDS are over. `close()` (called by the server when the
    response ends, the client gone included) unsubscribes and frees the slots.
    """

    def __init__(self, organization_id: uuid.UUID, user_id: Any) -> None:
        self._organization_id = organization_id
        self._member = uuid.uuid4().hex
        prefix = f"{settings.INBOX_EVENTS_PREFIX}:streams"
        self._keys = [f"{prefix}:user:{user_id}", f"{prefix}:org:{organization_id}"]
        self._client = _client()
        self._pubsub: Any = None
        self._closed = False
        _take_process_slot()
        try:
            self._count()
            self._subscribe()
        except BaseException:
            self.close()
            raise

    def _count(self) -> None:
        lifetime = settings.INBOX_STREAM_SECONDS + 2 * settings.INBOX_HEARTBEAT_SECONDS + 5
        caps = [settings.INBOX_STREAMS_PER_USER, settings.INBOX_STREAMS_PER_ORGANIZATION]
        try:
            full = self._client.eval(_ACQUIRE, len(self._keys), *self._keys, *caps, lifetime,
                                     self._member)
        except redis.RedisError as error:
            self._keys = []  # nothing was counted
            logger.warning("inbox stream refused, Redis unreachable: %s", error)
            raise StreamRefused("Live updates are unavailable right now: the inbox refreshes "
                                "by itself and tries again later.", 503, _retry_after()) from None
        if full:
            self._keys = []
            whose = "your account" if full == 1 else "your organization"
            raise StreamRefused(
                f"Too many live streams are open for {whose}: close another inbox tab or "
                "window; this one refreshes by itself and tries again later.", 429,
                _retry_after())

    def _subscribe(self) -> None:
        self._pubsub = self._client.pubsub()
        self._pubsub.subscribe(channel(self._organization_id))
        # Redis confirms once the subscription is active: from then on no event is missed.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = self._pubsub.get_message(timeout=max(deadline - time.monotonic(), 0))
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.TimeoutError("Redis did not confirm the subscription within 5 seconds.")

    def __iter__(self) -> Iterator[dict[str, Any] | None]:
        heartbeat = settings.INBOX_HEARTBEAT_SECONDS
        ends = time.monotonic() + settings.INBOX_STREAM_SECONDS
        while time.monotonic() < ends:
            message = self._pubsub.get_message(
                timeout=min(heartbeat, max(ends - time.monotonic(), 0)))
            if message is None:
                yield None
            elif message["type"] == "message":
                yield json.loads(message["data"])

    def close(self) -> None:
        """Unsubscribe and free the stream's slots (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._pubsub is not None:
                self._pubsub.close()
            for key in self._keys:
                self._client.zrem(key, self._member)
        except redis.RedisError as error:
            # The slots expire by themselves after the stream's lifetime.
            logger.warning("inbox stream slots not freed: %s", error)
        finally:
            _release_process_slot()


def subscribe(organization_id: uuid.UUID, user_id: Any = None) -> Stream:
    """The organization's events as a Stream, subscribed when this returns (see Stream)."""
    return Stream(organization_id, user_id)
