"""The organization's Zoho access token: bought from the refresh token when missing or refused,
once at a time per organization (a Redis lock), and shared by every process until it expires.

Zoho limits how often a refresh token may be used, so concurrent pushes must not each buy one.
The cached token is encrypted like the stored secrets, and keyed by a fingerprint of the
credentials, so replaced credentials never reuse the old grant's token.
"""
from __future__ import annotations

import hashlib

from redis.exceptions import LockError

from crm import shared_state
from crm.integrations import crypto
from crm.integrations.credentials import Credentials
from crm.zoho.client import ZohoClient
from crm.zoho.errors import Unavailable
from tenancy.context import get_current_organization_id

MARGIN_SECONDS = 60  # a token is replaced this long before Zoho says it expires
LOCK_SECONDS = 30  # longer than a refresh call (ZOHO_TIMEOUT) takes


def _fingerprint(credentials: Credentials) -> str:
    grant = "\n".join([str(credentials.config.get("client_id")),
                       str(credentials.config.get("domain")),
                       credentials.secret("refresh_token")])
    return hashlib.sha256(grant.encode()).hexdigest()[:24]


def _keys(credentials: Credentials) -> tuple[str, str]:
    """(token key, lock key) of the active organization's grant."""
    organization = get_current_organization_id()
    assert organization is not None, "Zoho is called as one organization (tenant_context)"
    return (shared_state.key("zoho", organization, "token", _fingerprint(credentials)),
            shared_state.key("zoho", organization, "refresh"))


def _cached(token_key: str) -> str | None:
    stored = shared_state.connection().get(token_key)
    return crypto.decrypt(stored.decode()) if stored else None


def access_token(credentials: Credentials, *, refused: str | None = None,
                 lead_id: str | None = None, wa_id: str | None = None) -> str:
    """A good access token: the cached one unless it is `refused` (Zoho just turned it away),
    else a new one (Broken when Zoho refuses the credentials, Unavailable when it is down)."""
    token_key, lock_key = _keys(credentials)
    cached = _cached(token_key)
    if cached and cached != refused:
        return cached
    try:
        with shared_state.connection().lock(lock_key, timeout=LOCK_SECONDS,
                                            blocking_timeout=LOCK_SECONDS):
            # Another process may have bought one while this one waited for the lock.
            cached = _cached(token_key)
            if cached and cached != refused:
                return cached
            token = ZohoClient(credentials, lead_id=lead_id, wa_id=wa_id).refresh()
            shared_state.connection().set(
                token_key, crypto.encrypt(token.access_token),
                ex=max(token.expires_in - MARGIN_SECONDS, 1))
            return token.access_token
    except LockError:
        raise Unavailable("Another refresh of the Zoho token took too long: the push is tried "
                          "again.") from None


def forget(credentials: Credentials) -> None:
    """Drop the cached token (the credentials were refused or replaced)."""
    shared_state.connection().delete(_keys(credentials)[0])
