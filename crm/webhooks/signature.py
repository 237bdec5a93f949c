"""Meta's verification handshake and the X-Hub-Signature-256 check, both in constant time."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_PREFIX = "sha256="


def _same(given: str, expected: str) -> bool:
    # Bytes, not str: compare_digest raises TypeError on non-ASCII str, and a header can hold it.
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def handshake_challenge(query: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo when the handshake is Meta's (mode subscribe, our token), else None."""
    if not verify_token or query.get("hub.mode") != "subscribe":
        return None
    challenge = query.get("hub.challenge")
    if not challenge or not _same(query.get("hub.verify_token", ""), verify_token):
        return None
    return challenge


def signature_matches(body: bytes, header: str | None, app_secret: str) -> bool:
    """True when `header` is "sha256=" + the HMAC-SHA256 of the raw body keyed with the secret."""
    if not app_secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _same(header[len(SIGNATURE_PREFIX):].strip().lower(), expected)
