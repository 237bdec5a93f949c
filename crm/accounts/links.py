"""Signed, expiring links sent by e-mail: each kind has its own salt, so no link opens another."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing

from crm.accounts.errors import BadLink


def make(kind: str, payload: dict[str, Any]) -> str:
    """A token of `kind` carrying `payload` (ids only: it travels in a URL)."""
    return signing.dumps(payload, salt=f"crm.accounts.{kind}", compress=True)


def read(kind: str, token: str, max_age_seconds: int, what: str) -> dict[str, Any]:
    """The payload of a valid, unexpired token of `kind`; BadLink naming `what` otherwise."""
    try:
        payload = signing.loads(token, salt=f"crm.accounts.{kind}", max_age=max_age_seconds)
    except signing.BadSignature:  # SignatureExpired is one too
        raise BadLink(what) from None
    if not isinstance(payload, dict):
        raise BadLink(what)
    return payload


def url(path: str) -> str:
    """An absolute link to `path` on this site (SITE_URL)."""
    return settings.SITE_URL.rstrip("/") + path
