"""The Redis every process shares (campaigns' send windows, stop flags and back-offs; statuses
waiting for their message), with this deployment's key prefix (CAMPAIGN_REDIS_PREFIX)."""
from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def connection() -> redis.Redis:
    """One client (a connection pool) per process."""
    return redis.Redis.from_url(settings.REDIS_URL)


def key(*parts: object) -> str:
    """A Redis key under CAMPAIGN_REDIS_PREFIX."""
    return ":".join([settings.CAMPAIGN_REDIS_PREFIX, *map(str, parts)])
