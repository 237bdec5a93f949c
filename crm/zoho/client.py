"""ZohoClient: the only code that speaks HTTP to Zoho (the accounts server for tokens, the CRM for
leads), as the active organization with its stored credentials.

URLs come from ZOHO_ACCOUNTS_URL / ZOHO_API_URL only, the organization's data centre checked
against Zoho's list (never the `api_domain` a token answer names), and redirects are never
followed, so the refresh token and access tokens go to Zoho and nowhere else. Every call is
recorded in `zoho_payload_logs` (request, answer, status) with every token and secret left out.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from crm.integrations.credentials import Credentials
from crm.models import ZohoPayloadLog
from crm.zoho.errors import Broken, ExpiredToken, Rejected, Unavailable, ZohoError

logger = logging.getLogger("crm.zoho")

# Zoho's data centres (https://www.zoho.com/crm/developer/docs/api/v8/multi-dc.html).
DOMAINS = ("zoho.com", "zoho.eu", "zoho.in", "zoho.com.au", "zoho.jp", "zoho.com.cn",
           "zohocloud.ca", "zoho.sa", "zoho.uk")
API_VERSION = "v8"
HIDDEN = "(hidden)"
# Keys whose values are credentials, wherever they appear in a request or an answer.
SECRET_KEYS = frozenset({"access_token", "refresh_token", "client_secret", "authorization"})
# The accounts server's answers that mean the credentials themselves were refused.
REFUSED = frozenset({"invalid_code", "invalid_client", "invalid_grant", "invalid_client_secret",
                     "unauthorized_client"})
# CRM codes of an access token that is no longer good (a new one is bought once).
EXPIRED = frozenset({"INVALID_TOKEN", "AUTHENTICATION_FAILURE"})

_lock = threading.Lock()
_shared: httpx.Client | None = None
_override: httpx.Client | None = None


def _new_http_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    timeout = float(settings.ZOHO_TIMEOUT)
    return httpx.Client(transport=transport,
                        timeout=httpx.Timeout(timeout, connect=min(timeout, 5)),
                        headers={"User-Agent": "wb-crm-django"}, follow_redirects=False)


def http_client() -> httpx.Client:
    """The process's shared httpx.Client (its connections are kept between calls)."""
    global _shared
    if _override is not None:
        return _override
    if _shared is None:
        with _lock:
            if _shared is None:
                _shared = _new_http_client()
    return _shared


@contextmanager
def use_transport(transport: httpx.BaseTransport) -> Iterator[httpx.Client]:
    """Route every Zoho call of this process through `transport` meanwhile (tests)."""
    global _override
    previous, _override = _override, _new_http_client(transport)
    try:
        yield _override
    finally:
        _override.close()
        _override = previous


def check_domain(domain: object) -> str:
    """The data centre if it is one of Zoho's; ZohoError naming the choices otherwise."""
    if domain not in DOMAINS:
        raise ZohoError(f"The Zoho domain {str(domain)[:40]!r} is not a Zoho data centre: give "
                        f"one of {', '.join(DOMAINS)}.")
    return str(domain)


def root(setting: str, domain: object) -> str:
    """ZOHO_ACCOUNTS_URL or ZOHO_API_URL for the organization's data centre."""
    return str(getattr(settings, setting)).replace("{domain}", check_domain(domain)).rstrip("/")


def hide_secrets(value: Any) -> Any:
    """A copy of `value` with every credential's value replaced."""
    if isinstance(value, dict):
        return {key: HIDDEN if str(key).lower() in SECRET_KEYS else hide_secrets(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [hide_secrets(item) for item in value]
    return value


@dataclass(frozen=True)
class Token:
    """An access token and how many seconds it stays good."""

    access_token: str = field(repr=False)
    expires_in: int


def _answer(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"text": response.text[:2000]}


class ZohoClient:
    """Zoho as the active organization; each call logged against the lead it is about."""

    def __init__(self, credentials: Credentials, *, lead_id: str | None = None,
                 wa_id: str | None = None) -> None:
        self._credentials = credentials
        self._lead_id = lead_id
        self._wa_id = wa_id

    def refresh(self) -> Token:
        """A new access token from the refresh token; Broken when Zoho refuses the credentials."""
        credentials = self._credentials
        url = root("ZOHO_ACCOUNTS_URL", credentials.config.get("domain")) + "/oauth/v2/token"
        params = {"grant_type": "refresh_token", "client_id": credentials.config.get("client_id"),
                  "client_secret": credentials.secret("client_secret"),
                  "refresh_token": credentials.secret("refresh_token")}
        # In the form body, not the query: a URL with secrets ends up in proxies' logs.
        response = self._call("POST", url, data=params)
        answer = _answer(response)
        error = answer.get("error") if isinstance(answer, dict) else None
        if response.status_code == 200 and not error and answer.get("access_token"):
            self._log(params, answer, "token")
            return Token(str(answer["access_token"]), int(answer.get("expires_in") or 3600))
        if error in REFUSED:
            self._log(params, answer, "token_refused", str(error))
            raise Broken(str(error))
        message = f"the accounts server answered {response.status_code} {str(error or '')[:80]}"
        self._log(params, answer, "token_error", message)
        raise Unavailable(f"Zoho did not give an access token ({message}): it is tried again.")

    def create_lead(self, access_token: str, record: dict[str, Any]) -> str:
        """Create one lead in Zoho CRM; its Zoho id."""
        url = (root("ZOHO_API_URL", self._credentials.config.get("domain"))
               + f"/crm/{API_VERSION}/Leads")
        body = {"data": [record]}
        response = self._call("POST", url, json=body,
                              headers={"Authorization": f"Zoho-oauthtoken {access_token}"})
        answer = _answer(response)
        rows = answer.get("data") if isinstance(answer, dict) else None
        row = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}
        code = str(row.get("code") or (answer.get("code") if isinstance(answer, dict) else "")
                   or "")
        details = row.get("details") if isinstance(row.get("details"), dict) else {}
        if response.status_code in (200, 201, 202) and code == "SUCCESS" and details.get("id"):
            zoho_id = str(details["id"])
            self._log(body, answer, "success", zoho_lead_id=zoho_id)
            return zoho_id
        if response.status_code == 401 and code in EXPIRED:
            self._log(body, answer, "expired_token", code)
            raise ExpiredToken("Zoho refused the access token: a new one is bought.")
        if response.status_code == 401:
            self._log(body, answer, "refused", code)
            raise Broken(code or "unauthorized")
        if response.status_code == 429 or response.status_code >= 500:
            self._log(body, answer, "unavailable", f"HTTP {response.status_code} {code}")
            raise Unavailable(f"Zoho answered {response.status_code}: the push is tried again.")
        message = str(row.get("message") or (answer.get("message")
                                             if isinstance(answer, dict) else "") or "")[:200]
        self._log(body, answer, "rejected", f"{code}: {message}")
        raise Rejected(code or f"HTTP {response.status_code}", message,
                       str(details.get("api_name") or "") or None)

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return http_client().request(method, url, **kwargs)
        except httpx.HTTPError as error:
            kind = type(error).__name__
            self._log(hide_secrets(kwargs.get("json") or kwargs.get("data")), None,
                      "unavailable", f"no answer: {kind}")
            raise Unavailable(f"Zoho did not answer ({kind}): the push is tried again.") from None

    def _log(self, request: Any, answer: Any, status: str, error: str | None = None, *,
             zoho_lead_id: str | None = None) -> None:
        """One row of zoho_payload_logs (and a log line), never a token or secret."""
        logger.info("Zoho call for lead %s: %s %s", self._lead_id, status, error or "")
        ZohoPayloadLog.objects.create(
            wa_id=self._wa_id, lead_id=self._lead_id, zoho_lead_id=zoho_lead_id,
            payload=hide_secrets(request), response=hide_secrets(answer), status=status,
            error_message=error, created_at=timezone.now())
