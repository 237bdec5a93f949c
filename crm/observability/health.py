"""What /readyz checks: each dependency answers within READY_TIMEOUT seconds."""
from __future__ import annotations

from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from kombu import Connection

Check = tuple[bool, str]


def _postgresql() -> None:
    with connection.cursor() as cursor:  # no table: only whether the database answers
        cursor.execute("SELECT 1")


def _redis() -> None:
    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=settings.READY_TIMEOUT,
                         socket_connect_timeout=settings.READY_TIMEOUT).ping()


def _rabbitmq() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=settings.READY_TIMEOUT) as broker:
        broker.ensure_connection(max_retries=1, timeout=settings.READY_TIMEOUT)


CHECKS: dict[str, Callable[[], None]] = {
    "postgresql": _postgresql, "redis": _redis, "rabbitmq": _rabbitmq,
}


def checks() -> dict[str, Check]:
    """Each dependency: (reachable, why not), the error's kind only (never a URL or password)."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = (True, "")
        except Exception as error:  # noqa: BLE001  (any failure means not ready)
            results[name] = (False, f"unreachable ({type(error).__name__})")
    return results
