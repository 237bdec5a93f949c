"""Sign-in protection and its audit: failures counted per username and address, and per address.

After SIGNIN_MAX_FAILURES failed sign-ins of one username from one address (or
SIGNIN_MAX_FAILURES_PER_ADDRESS from one address, any names) within SIGNIN_LOCKOUT_SECONDS,
sign-in from there is refused until the window ends, on the admin, the inbox and the token
endpoint alike. Counted by address too, so a stranger elsewhere cannot lock a user out. The
counters live in the shared cache (Redis): every process sees them. A cache that cannot be
reached fails open, with a warning: sign-in goes on, unprotected, rather than stopping.
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from redis.exceptions import RedisError

from crm import audit
from crm.auth import login_candidates
from crm.models import User

logger = logging.getLogger(__name__)


class LockedOut(Exception):
    """Too many failed sign-ins: `retry_after` seconds until the next try is taken."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        super().__init__(f"Too many failed sign-ins: try again in about {minutes} minute(s), "
                         "or reset your password.")
        self.retry_after = retry_after


def address(request: Any) -> str:
    """The client's address, as the server saw it."""
    return (getattr(request, "META", None) or {}).get("REMOTE_ADDR", "") or "unknown"


def _counters(username: str, ip: str) -> list[tuple[str, int]]:
    """(cache key, limit) pairs; names and addresses hashed: any text makes a valid key."""
    name = hashlib.sha256(username.lower().encode(errors="replace")).hexdigest()[:32]
    where = hashlib.sha256(ip.encode(errors="replace")).hexdigest()[:32]
    return [(f"signin:name:{name}:{where}", settings.SIGNIN_MAX_FAILURES),
            (f"signin:address:{where}", settings.SIGNIN_MAX_FAILURES_PER_ADDRESS)]


def check(username: str, request: Any) -> None:
    """Raise LockedOut while sign-in of `username` from this request's address is locked."""
    try:
        for key, limit in _counters(username, address(request)):
            if (cache.get(key) or 0) >= limit:
                started = cache.get(f"{key}:since") or time.time()
                window = settings.SIGNIN_LOCKOUT_SECONDS
                raise LockedOut(max(1, int(started + window - time.time())))
    except RedisError as error:
        logger.warning("Sign-in lock-out unavailable (cache unreachable): %s", error)


def failed(username: str, request: Any) -> None:
    """Count one failed sign-in of `username` from this request's address."""
    window = settings.SIGNIN_LOCKOUT_SECONDS
    try:
        for key, _ in _counters(username, address(request)):
            if cache.add(key, 1, window):
                cache.set(f"{key}:since", time.time(), window)
            else:
                cache.incr(key)
    except (RedisError, ValueError) as error:  # ValueError: the key expired in between
        logger.warning("Sign-in failure not counted: %s", error)


def succeeded(username: str, request: Any) -> None:
    """A successful sign-in clears its name's failures from this address."""
    try:
        cache.delete(_counters(username, address(request))[0][0])
    except RedisError as error:
        logger.warning("Sign-in failures not cleared: %s", error)


@receiver(user_logged_in, dispatch_uid="crm.accounts.signin.logged_in")
def _logged_in(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    """Audit a sign-in to the admin or the inbox."""
    signed_in(user, request, "session")


def signed_in(user: User, request: Any, via: str) -> None:
    """Clear the failures and audit the sign-in in the user's organization."""
    succeeded(user.username, request)
    if user.organization_id is not None:
        audit.record(audit.SIGN_IN, actor=user, organization=user.organization_id, via=via,
                     address=address(request))


@receiver(user_login_failed, dispatch_uid="crm.accounts.signin.login_failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None,
                  **kwargs: Any) -> None:
    """Count the failure and audit it in each organization the name could have been."""
    username = str(credentials.get("username") or "")
    if not username:
        return
    failed(username, request)
    code = credentials.get("organization") or None
    for user in login_candidates(username, code)[: 5]:
        if user.organization_id is not None:
            audit.record(audit.SIGN_IN_FAILED, organization=user.organization_id,
                         username=username, address=address(request))
