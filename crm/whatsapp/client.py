"""GraphClient: calls Meta's Graph API as one WhatsApp number of the active organization.

One httpx.Client per process keeps connections to the Graph API open between calls; timeouts,
retries with backoff for the retryable error codes only, every call recorded in
`whatsapp_api_logs`, and the access token kept out of logs, records and exceptions.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
from django.conf import settings
from django.utils import timezone
from pydantic import BaseModel

from crm.models import Campaign, Job, WhatsAppApiLog, WhatsAppNumber
from crm.whatsapp.errors import (
    Action,
    GraphError,
    NumberUnavailable,
    TransportError,
    error_from_response,
)
from tenancy.context import get_current_organization_id

logger = logging.getLogger("crm.whatsapp")

# Failures that happen before the request reaches Meta: safe to retry even a send.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})
_LOGGED_TEXT = 4000  # characters of a non-JSON answer kept in the log

_lock = threading.Lock()
_shared: httpx.Client | None = None
_override: httpx.Client | None = None


def _new_http_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    timeout = float(getattr(settings, "WHATSAPP_GRAPH_TIMEOUT", 10.0))
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": "wb-crm-django"},
    )


def http_client() -> httpx.Client:
    """The process's shared httpx.Client (its connection pool is reused by every call)."""
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
    """Route every GraphClient of this process through `transport` meanwhile (tests)."""
    global _override
    previous, _override = _override, _new_http_client(transport)
    try:
        yield _override
    finally:
        _override.close()
        _override = previous


@dataclass(frozen=True)
class Sent:
    """Meta accepted a message: its wamid and the recipient's WhatsApp id."""

    wamid: str
    wa_id: str | None
    response: dict[str, Any]


def base_url() -> str:
    """The Graph API root with its version, from the settings."""
    root = str(getattr(settings, "WHATSAPP_GRAPH_URL", "https://graph.facebook.com"))
    version = str(getattr(settings, "WHATSAPP_API_VERSION", "v21.0"))
    return f"{root.rstrip('/')}/{version}"


class GraphClient:
    """The Graph API as one number of the active organization, with that number's token."""

    def __init__(
        self, number: WhatsAppNumber, *, transport: httpx.BaseTransport | None = None,
        campaign: Campaign | None = None, job: Job | None = None,
        retries: int | None = None, sleep: Callable[[float], None] = time.sleep,
        keep_logs: bool = False,
    ) -> None:
        if get_current_organization_id() is None or (
            number.organization_id != get_current_organization_id()
        ):
            raise NumberUnavailable(
                "This WhatsApp number belongs to another organization: send from one of yours."
            )
        if not number.access_token:
            raise NumberUnavailable(
                f"The WhatsApp number {number} has no access token: set it in the admin first."
            )
        self.number = number
        self._token = number.access_token
        self._http = _new_http_client(transport) if transport is not None else None
        self._campaign = campaign
        self._job = job
        self._retries = int(getattr(settings, "WHATSAPP_GRAPH_RETRIES", 2)
                            if retries is None else retries)
        self._sleep = sleep
        # keep_logs: the caller writes the api log rows (kept_logs) with its own outcome rows.
        self._keep_logs = keep_logs
        self.kept_logs: list[dict[str, Any]] = []

    # --- what callers use ----------------------------------------------------------------

    def send(self, body: BaseModel | Mapping[str, Any]) -> Sent:
        """Send a message body (schemas.OutboundMessage or its JSON); Meta's wamid back."""
        payload = _as_json(body)
        answer = self.request("POST", f"{self.number.phone_number_id}/messages", json=payload)
        messages = answer.get("messages") if isinstance(answer, dict) else None
        if not messages or not isinstance(messages[0], dict) or not messages[0].get("id"):
            raise GraphError("The Graph API accepted the message but returned no message id",
                             http_status=200)
        contacts = answer.get("contacts") or [{}]
        return Sent(wamid=str(messages[0]["id"]), wa_id=contacts[0].get("wa_id"),
                    response=answer)

    def mark_read(self, wamid: str) -> bool:
        """Mark an inbound message (and the ones before it) read on WhatsApp."""
        answer = self.request("POST", f"{self.number.phone_number_id}/messages", json={
            "messaging_product": "whatsapp", "status": "read", "message_id": wamid,
        })
        return bool(isinstance(answer, dict) and answer.get("success"))

    def get_phone_number(
        self, fields: str = "id,display_phone_number,verified_name,quality_rating"
    ) -> dict[str, Any]:
        """The number's details as Meta knows them (only with a token that may use it)."""
        answer = self.request("GET", self.number.phone_number_id, params={"fields": fields})
        return answer if isinstance(answer, dict) else {}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call `path` (relative to the versioned root) and return the decoded JSON answer."""
        response = self.request_raw(method, path, **kwargs)
        return _decode(response)

    def request_raw(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
        json: Any = None, data: Mapping[str, Any] | None = None, files: Any = None,
        sink: Sink | None = None,
    ) -> httpx.Response:
        """Call the Graph API with retries; the successful httpx.Response, or a GraphError.

        `path` is relative to the versioned root, or an absolute URL Meta gave us (media).
        With a `sink`, a successful answer's body is streamed into it, never held whole.
        """
        method = method.upper()
        url = path if path.startswith(("http://", "https://")) else f"{base_url()}/{path}"
        attempt = 0
        while True:
            try:
                return self._attempt(method, url, sink, params=params, json=json, data=data,
                                     files=files)
            except GraphError as error:
                if attempt >= self._retries or not self._may_retry(method, error):
                    raise
                attempt += 1
                self._sleep(self._backoff(attempt, error.retry_after))

    # --- internals -------------------------------------------------------------------------

    @staticmethod
    def _may_retry(method: str, error: GraphError) -> bool:
        if error.action is not Action.RETRY:
            return False
        if isinstance(error, TransportError):
            # A send that timed out may have reached Meta: retrying it could send it twice.
            return method in _IDEMPOTENT or error.not_sent
        return True

    @staticmethod
    def _backoff(attempt: int, retry_after: float | None) -> float:
        base = float(getattr(settings, "WHATSAPP_GRAPH_BACKOFF", 0.5))
        ceiling = float(getattr(settings, "WHATSAPP_GRAPH_BACKOFF_MAX", 8.0))
        delay = base * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        return min(max(delay, retry_after or 0.0), ceiling)

    def _attempt(self, method: str, url: str, sink: Sink | None, **kwargs: Any
                 ) -> httpx.Response:
        started_at = timezone.now()
        started = time.perf_counter()
        client = self._http or http_client()
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            if sink is None:
                response = client.request(method, url, headers=headers, **kwargs)
            else:
                response = _stream(client, client.build_request(method, url, headers=headers,
                                                                **kwargs), sink)
        except httpx.HTTPError as exc:
            failure = TransportError(f"No answer from the Graph API ({type(exc).__name__})",
                                     not_sent=isinstance(exc, _NOT_SENT))
            self._record(method, url, kwargs, started_at, started, None, failure)
            raise failure from None
        except Exception:  # the sink refused the body (too large...): the call is still logged
            self._record(method, url, kwargs, started_at, started, None, None)
            raise
        error = None
        if response.status_code >= 400:
            error = error_from_response(
                response.status_code, _decode_or_none(response), _retry_after(response)
            )
            error.message = self._scrub(error.message)
            error.details = self._scrub(error.details)
        self._record(method, url, kwargs, started_at, started, response, error)
        if error is not None:
            raise error
        return response

    def _scrub(self, value: Any) -> Any:
        """`value` with the access token masked wherever it appears."""
        if isinstance(value, str):
            return value.replace(self._token, "***") if self._token in value else value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _record(
        self, method: str, url: str, kwargs: Mapping[str, Any], started_at: datetime,
        started: float, response: httpx.Response | None, error: GraphError | None,
    ) -> None:
        """One whatsapp_api_logs row for this attempt; a failure to log never fails the call."""
        duration_ms = int((time.perf_counter() - started) * 1000)
        level = logging.WARNING if error is not None else logging.DEBUG
        logger.log(level, "Graph API %s %s -> %s in %d ms%s", method, httpx.URL(url).path,
                   response.status_code if response is not None else "no answer", duration_ms,
                   f" (code {error.code}, {error.action.value})" if error is not None else "")
        row = self._log_row(method, url, kwargs, started_at, duration_ms, response, error)
        if self._keep_logs:
            self.kept_logs.append(row)
            return
        try:
            WhatsAppApiLog.objects.create(**row)
        except Exception:  # the call's outcome matters more than its log row
            logger.exception("Could not record a Graph API call in whatsapp_api_logs")

    def _log_row(
        self, method: str, url: str, kwargs: Mapping[str, Any], started_at: datetime,
        duration_ms: int, response: httpx.Response | None, error: GraphError | None,
    ) -> dict[str, Any]:
        """The whatsapp_api_logs columns of one attempt, with every secret masked."""
        body = _logged_body(response) if response is not None else None
        wamid = None
        if isinstance(body, dict) and isinstance(body.get("messages"), list) and body["messages"]:
            wamid = str(body["messages"][0].get("id") or "")[:100] or None
        payload = kwargs.get("json")
        request = {"method": method, **({"params": dict(kwargs["params"])}
                                        if kwargs.get("params") else {})}
        if payload is not None:
            request["json"] = payload
        if kwargs.get("data"):
            request["data"] = dict(kwargs["data"])
        if kwargs.get("files"):
            request["files"] = "(file upload, not recorded)"
        recipient = payload.get("to") if isinstance(payload, dict) else None
        return {
            "campaign_id": self._campaign.pk if self._campaign else None,
            "job_id": self._job.pk if self._job else None,
            "phone_number": str(recipient or self.number.phone_number_id)[:20],
            "request_url": str(url)[:500],
            "request_payload": self._scrub(request),
            "request_headers": {"Authorization": "***"},
            "response_status_code": response.status_code if response is not None else None,
            "response_body": self._scrub(body),
            "response_headers": self._scrub(dict(response.headers)) if response else None,
            "whatsapp_message_id": wamid,
            "error_code": str(error.code)[:50] if error and error.code is not None else None,
            "error_message": self._scrub(str(error)) if error else None,
            "request_time": started_at,
            "response_time": timezone.now(),
            "duration_ms": duration_ms,
            "created_at": started_at,
        }


class Sink(Protocol):
    """Where a streamed answer's body goes (a download): `start` before each attempt's body."""

    def start(self) -> None: ...

    def write(self, chunk: bytes) -> None: ...


def _stream(client: httpx.Client, request: httpx.Request, sink: Sink) -> httpx.Response:
    """Send `request`; a successful body goes to `sink` chunk by chunk, an error's is read."""
    response = client.send(request, stream=True)
    try:
        if response.status_code >= 400:
            response.read()  # Meta's error JSON: small, and needed to classify the error
        else:
            sink.start()
            for chunk in response.iter_bytes():
                sink.write(chunk)
    finally:
        response.close()
    return response


def _as_json(body: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", exclude_none=True)
    return dict(body)


def _decode_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _decode(response: httpx.Response) -> Any:
    """The JSON answer; a successful answer that is not JSON is an error."""
    answer = _decode_or_none(response)
    if answer is None:
        raise GraphError("The Graph API answered something that is not JSON",
                         http_status=response.status_code)
    return answer


def _logged_body(response: httpx.Response) -> Any:
    try:
        response.content
    except httpx.ResponseNotRead:  # streamed into a sink: only its size is known
        return {"bytes": response.num_bytes_downloaded,
                "content_type": response.headers.get("content-type")}
    if "json" in response.headers.get("content-type", ""):
        decoded = _decode_or_none(response)
        if decoded is not None:
            return decoded
    if response.headers.get("content-type", "").startswith("text/"):
        return {"text": response.text[:_LOGGED_TEXT]}
    return {"bytes": len(response.content), "content_type": response.headers.get("content-type")}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
