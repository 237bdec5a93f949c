"""RazorpayClient: the only code that speaks HTTP to Razorpay, as one organization's account.

Every URL is RAZORPAY_API_URL plus a path built here from checked ids; the key secret goes only in
the Basic auth header and is decrypted at the moment of the call. Reads are retried on a server
error or no answer; a create is retried only when it never reached Razorpay. Every call is logged
(method, path, status, duration; never the auth header).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from django.conf import settings

from crm.integrations.credentials import Credentials
from crm.payments.razorpay.errors import (
    BadRequest,
    RazorpayError,
    Unavailable,
    error_from_response,
)

logger = logging.getLogger("crm.payments.razorpay")

_ID = re.compile(r"[A-Za-z0-9_]{1,64}")
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_lock = threading.Lock()
_shared: httpx.Client | None = None
_override: httpx.Client | None = None


def _new_http_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    timeout = float(settings.RAZORPAY_TIMEOUT)
    return httpx.Client(transport=transport, follow_redirects=False,
                        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                        headers={"User-Agent": "wb-crm-django"})


def _http() -> httpx.Client:
    global _shared
    if _override is not None:
        return _override
    with _lock:
        if _shared is None:
            _shared = _new_http_client()
    return _shared


@contextmanager
def use_transport(transport: httpx.BaseTransport) -> Iterator[httpx.Client]:
    """Route every RazorpayClient of this process through `transport` meanwhile (tests)."""
    global _override
    previous, _override = _override, _new_http_client(transport)
    try:
        yield _override
    finally:
        _override.close()
        _override = previous


def checked_id(value: object) -> str:
    """A Razorpay id fit for a URL path (`plink_...`); BadRequest otherwise."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise BadRequest("Refused to call Razorpay with an id that is not one")


class RazorpayClient:
    """Razorpay's REST API as the organization whose credentials these are."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def request(self, method: str, path: str, *, json: Any = None,
                params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call `path` (under RAZORPAY_API_URL); Razorpay's JSON answer, or a RazorpayError."""
        url = f"{str(settings.RAZORPAY_API_URL).rstrip('/')}/{path}"
        auth = (str(self.credentials.config.get("key_id", "")),
                self.credentials.secret("key_secret"))
        retries = max(0, int(settings.RAZORPAY_RETRIES))
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = _http().request(method, url, json=json, params=params, auth=auth)
            except httpx.HTTPError as failure:
                logger.warning("razorpay %s /%s: no answer (%s)", method, path,
                               type(failure).__name__)
                error: RazorpayError = Unavailable("no answer from Razorpay")
                retryable = method == "GET" or isinstance(failure, _NOT_SENT)
            else:
                logger.info("razorpay %s /%s: %s in %.0f ms", method, path,
                            response.status_code, (time.monotonic() - started) * 1000)
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if response.is_success and isinstance(body, dict):
                    return body
                error = error_from_response(response.status_code, body)
                retryable = isinstance(error, Unavailable) and method == "GET"
            if not retryable or attempt >= retries:
                raise error
            time.sleep(float(settings.RAZORPAY_BACKOFF) * 2 ** attempt)
            attempt += 1

    def check(self) -> None:
        """One harmless call (list one payment link): raises when the keys do not work."""
        self.request("GET", "payment_links", params={"count": 1})

    def create_payment_link(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST /payment_links: the link Razorpay made (`id`, `short_url`, `status`)."""
        return self.request("POST", "payment_links", json=payload)

    def fetch_payment_link(self, link_id: str) -> dict[str, Any]:
        """GET /payment_links/{id}: the link's current state, with its payments."""
        return self.request("GET", f"payment_links/{checked_id(link_id)}")
