"""Send slots per WhatsApp number, shared by every worker through Redis.

Sends from a number are paced, not burst: one Lua script, on the Redis server's clock, hands out
send times CAMPAIGN_RATE_WINDOW_MS / limit apart (a GCRA without burst), so every worker on every
machine together sends at most `limit` per window, evenly spread; slightly more than a second per
window absorbs network jitter before the Graph API counts. The same call refuses when the job is
stopped, while the number backs off after a throughput error, and while this customer was written
to from this number within Meta's pair limit.

With CAMPAIGN_STATE_FILE set (one machine without Redis: the bin/run demo) the same state lives
in that file instead (crm.campaigns.localstate).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings

from crm.campaigns import localstate
from crm.shared_state import connection, key

HORIZON_MS = 500  # reserve at most this far ahead, so a stop is still seen within a second

_ACQUIRE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, 0} end
local backoff = redis.call('PTTL', KEYS[3])
if backoff > 0 then return {1, backoff} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {-2, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
local wait = start - now
if wait > tonumber(ARGV[2]) then return {1, math.ceil(wait - tonumber(ARGV[2]))} end
local interval = tonumber(ARGV[1])
-- %.3f, not tostring's 14 digits: a slot 0.05 ms early would break the promised spacing.
local following = string.format('%.3f', start + interval)
redis.call('SET', KEYS[1], following, 'PX', math.ceil(wait + interval) + 1000)
redis.call('SET', KEYS[4], 1, 'PX', tonumber(ARGV[3]))
return {0, math.ceil(wait), string.format('%.3f', start)}
"""

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
    at: float | None = None  # a granted slot's send time: ms on the Redis server's clock


def acquire(number_id: object, limit: int, job_id: object, wa_id: str,
            deadline: float | None = None) -> Slot:
    """Wait for this sender's turn to send from `number_id` to `wa_id`; give up when the job is
    stopped, the customer is pair-limited, or the wait would pass `deadline` (time.monotonic())."""
    keys = [key("next", number_id), stop_key(job_id), _backoff_key(number_id),
            key("pair", number_id, wa_id)]
    args = [settings.CAMPAIGN_RATE_WINDOW_MS / max(1, limit), HORIZON_MS,
            max(1, int(settings.CAMPAIGN_PAIR_SECONDS * 1000))]
    while True:
        if settings.CAMPAIGN_STATE_FILE:
            outcome, wait_ms, *at = localstate.acquire(keys, args)
        else:
            outcome, wait_ms, *at = _script()(keys=keys, args=args)
        outcome, wait_ms = int(outcome), int(wait_ms)
        if outcome == -1:
            return Slot(granted=False, stopped=True)
        if outcome == -2:
            return Slot(granted=False, pair_limited=True)
        if outcome == 0:
            time.sleep(wait_ms / 1000)  # our reserved send time
            return Slot(granted=True, at=float(at[0]))
        if deadline is not None and time.monotonic() + wait_ms / 1000 > deadline:
            return Slot(granted=False)
        time.sleep(min(wait_ms, 250) / 1000)  # short naps: a stop is seen within a second


def back_off(number_id: object, seconds: float) -> None:
    """Hold every sender of `number_id` for `seconds` (Meta said: too many messages)."""
    if settings.CAMPAIGN_STATE_FILE:
        localstate.set_for(_backoff_key(number_id), max(1, int(seconds * 1000)))
        return
    connection().set(_backoff_key(number_id), 1, px=max(1, int(seconds * 1000)))


def set_stopped(job_id: object, stopped: bool) -> None:
    """Raise or clear the stop flag every sender of the job checks before each send."""
    week = 7 * 24 * 3600
    if settings.CAMPAIGN_STATE_FILE and stopped:
        localstate.set_for(stop_key(job_id), week * 1000)
    elif settings.CAMPAIGN_STATE_FILE:
        localstate.delete(stop_key(job_id))
    elif stopped:
        connection().set(stop_key(job_id), 1, ex=week)
    else:
        connection().delete(stop_key(job_id))


def is_stopped(job_id: object) -> bool:
    """Whether the job's stop flag is raised."""
    if settings.CAMPAIGN_STATE_FILE:
        return localstate.exists(stop_key(job_id))
    return bool(connection().exists(stop_key(job_id)))
