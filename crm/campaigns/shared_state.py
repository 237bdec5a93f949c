"""The Redis every worker shares (send windows, stop flags, back-offs), with this deployment's
key prefix."""
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
