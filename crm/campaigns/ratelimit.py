"""Send slots per WhatsApp number, shared by every worker through Redis.

One Lua script decides atomically, on the Redis server's clock: is the job stopped, is the
number backing off after a throughput error, was this customer written to from this number in
the last few seconds (Meta's pair limit), and is there room in the number's sliding window of the
last CAMPAIGN_RATE_WINDOW_MS (at most `limit` sends in it). Several workers on several machines
therefore never exceed a number's rate together.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings

from crm.campaigns.shared_state import connection, key

STOPPED = -1
PAIR_WAIT = -2

_ACQUIRE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local backoff = redis.call('PTTL', KEYS[3])
if backoff > 0 then return backoff end
if redis.call('EXISTS', KEYS[4]) == 1 then return -2 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    redis.call('SET', KEYS[4], 1, 'PX', tonumber(ARGV[4]))
    return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

_members = itertools.count()
_script_lock = threading.Lock()
_scripts: dict[int, object] = {}


def _script() -> object:
    client = connection()
    with _script_lock:
        if id(client) not in _scripts:
            _scripts[id(client)] = client.register_script(_ACQUIRE)
        return _scripts[id(client)]


def stop_key(job_id: object) -> str:
    return key("stop", job_id)


def _backoff_key(number_id: object) -> str:
    return key("backoff", number_id)


@dataclass(frozen=True)
class Slot:
    """The outcome of asking for a send slot."""

    granted: bool
    stopped: bool = False
    pair_limited: bool = False


def acquire(number_id: object, limit: int, job_id: object, wa_id: str,
            deadline: float | None = None) -> Slot:
    """Wait for a slot to send from `number_id` to `wa_id`; give up when stopped or pair-limited.

    `deadline` (time.monotonic()) bounds the wait so a sender checks back regularly.
    """
    member = f"{os.getpid()}-{uuid.uuid4().hex[:8]}-{next(_members)}"
    keys = [key("window", number_id), stop_key(job_id), _backoff_key(number_id),
            key("pair", number_id, wa_id)]
    args = [settings.CAMPAIGN_RATE_WINDOW_MS, limit, member,
            max(1, int(settings.CAMPAIGN_PAIR_SECONDS * 1000))]
    while True:
        answer = int(_script()(keys=keys, args=args))
        if answer == 0:
            return Slot(granted=True)
        if answer == STOPPED:
            return Slot(granted=False, stopped=True)
        if answer == PAIR_WAIT:
            return Slot(granted=False, pair_limited=True)
        if deadline is not None and time.monotonic() + answer / 1000 > deadline:
            return Slot(granted=False)
        time.sleep(min(answer, 250) / 1000)  # short naps: a stop is seen within a second


def back_off(number_id: object, seconds: float) -> None:
    """Hold every sender of `number_id` for `seconds` (Meta said: too many messages)."""
    connection().set(_backoff_key(number_id), 1, px=max(1, int(seconds * 1000)))


def set_stopped(job_id: object, stopped: bool) -> None:
    """Raise or clear the stop flag every sender of the job checks before each send."""
    if stopped:
        connection().set(stop_key(job_id), 1, ex=7 * 24 * 3600)
    else:
        connection().delete(stop_key(job_id))


def is_stopped(job_id: object) -> bool:
    """Whether the job's stop flag is raised."""
    return bool(connection().exists(stop_key(job_id)))
