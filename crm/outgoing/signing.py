"""Signed deliveries: `X-WBCRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
`<t>.<raw body>` with the subscription's secret. A receiver recomputes it over the body it got,
compares in constant time and refuses a `t` older than a few minutes (a replay)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-WBCRM-Signature"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """A fresh subscription secret."""
    return "whsec_" + secrets.token_urlsafe(32)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, *, now: float,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance` seconds of `now`."""
    fields: dict[str, list[str]] = {}
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields.get("t", [""])[0])
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
