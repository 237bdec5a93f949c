"""The only code that speaks HTTP to subscribers: one POST to a checked, pinned address.

The connection goes to the address crm.outgoing.addresses checked (the Host header and TLS name
stay the URL's host, so certificates are verified as usual), redirects are never followed, and at
most ANSWER_BYTES of the answer are read: a receiver can neither steer us elsewhere nor make us
read without end.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from django.conf import settings

from crm.outgoing.addresses import Target

ANSWER_BYTES = 2000
USER_AGENT = "wb-crm-webhooks/1"
logger = logging.getLogger("crm.outgoing")
_transport: httpx.BaseTransport | None = None


@dataclass(frozen=True)
class Answer:
    """What the receiver answered: its status and the start of its body."""

    status_code: int
    excerpt: str
    location: str | None


@contextmanager
def use_transport(transport: httpx.BaseTransport) -> Iterator[None]:
    """Send every delivery of this process through `transport` meanwhile (tests)."""
    global _transport
    previous, _transport = _transport, transport
    try:
        yield
    finally:
        _transport = previous


def post(target: Target, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `target`; httpx.HTTPError when no answer came."""
    timeout = settings.OUTGOING_WEBHOOKS_TIMEOUT
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    with httpx.Client(transport=_transport, follow_redirects=False, trust_env=False,
                      timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))) as client:
        request = client.build_request(
            "POST", target.pinned_url, content=body, extensions=extensions,
            headers={**headers, "Host": target.host_header, "User-Agent": USER_AGENT,
                     "Content-Type": "application/json"})
        response = client.send(request, stream=True)
        try:
            received = b""
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) >= ANSWER_BYTES:
                    break
        finally:
            response.close()
    # The host only: a path or query may carry the receiver's own token.
    logger.info("webhook to %s answered %s", target.host, response.status_code)
    return Answer(response.status_code, received[:ANSWER_BYTES].decode("utf-8", "replace"),
                  response.headers.get("location"))
