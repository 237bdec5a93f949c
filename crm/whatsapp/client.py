"""GraphClient: calls Meta's Graph API as one WhatsApp number of the active organization.

One httpx.Client per process keeps connections to the Graph API open between calls; timeouts,
retries with backoff for the retryable error codes only, every call recorded in
`whatsapp_api_logs`, and the access token kept out of logs, records and exceptions.

The token goes to Meta only: every URL is WHATSAPP_GRAPH_URL, the version and path segments
checked here (an id that is a URL, or holds `/`, `..`, `?` or `#`, is refused), and a media
download only to an origin of WHATSAPP_MEDIA_ORIGINS. No caller passes a URL of its own, and
redirects are never followed, so a stored id cannot send the token (or fetch an answer) elsewhere.
"""
from __future__ import annotations

import logging
import random
import re
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
from crm.observability.metrics import GRAPH_ERRORS
from crm.whatsapp.errors import (
    Action,
    GraphError,
    NumberUnavailable,
    TransportError,
    UnsafeRequest,
    error_from_response,
)
from tenancy.context import get_current_organization_id

logger = logging.getLogger("crm.whatsapp")

# Failures that happen before the request reaches Meta: safe to retry even a send.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})
_LOGGED_TEXT = 4000  # characters of a non-JSON answer kept in the log
# One path segment: Meta's ids and edge names. Dots only between other characters, so never
# "." or ".."; no "/", ":", "?", "#" or "%", so a segment cannot leave its place in the URL.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_SEGMENT_LENGTH = 128
# A token in a URL or a text (Meta's `paging.next` carries the caller's): masked in the logs.
_TOKEN_IN_TEXT = re.compile(r"(access_token=)[^&\s\"']+", re.IGNORECASE)
_SECRET_KEYS = frozenset({"access_token", "authorization", "client_secret"})
# Query parameters never logged: the app secret and Embedded Signup's one-time code.
_SECRET_PARAMS = frozenset({"client_secret", "code"})

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
        follow_redirects=False,  # a redirect would carry the token to wherever it points
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


def graph_url(*segments: str) -> str:
    """The versioned Graph API URL of `segments` (ids and edge names); UnsafeRequest otherwise."""
    if not segments:
        raise UnsafeRequest("A Graph API call needs a path (an id, then edges)")
    for segment in segments:
        if not (isinstance(segment, str) and len(segment) <= _SEGMENT_LENGTH
                and _SEGMENT.fullmatch(segment)):
            shown = repr(segment)[:60]
            raise UnsafeRequest(f"Refused to call the Graph API with {shown} in the path: "
                                "not an id")
    return "/".join([base_url(), *segments])


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return url.scheme, url.host, port


def media_url(url: object) -> httpx.URL:
    """A media download URL Meta gave, if it is on an origin of WHATSAPP_MEDIA_ORIGINS."""
    allowed = {_origin(httpx.URL(origin))
               for origin in getattr(settings, "WHATSAPP_MEDIA_ORIGINS", ())}
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else None
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.userinfo or _origin(parsed) not in allowed:
        raise UnsafeRequest("Refused to download media from a URL outside Meta's media hosts "
                            "(WHATSAPP_MEDIA_ORIGINS): the access token goes to Meta only")
    return parsed


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
        answer = self.request("POST", self.number.phone_number_id, "messages", json=payload)
        messages = answer.get("messages") if isinstance(answer, dict) else None
        if not messages or not isinstance(messages[0], dict) or not messages[0].get("id"):
            raise GraphError("The Graph API accepted the message but returned no message id",
                             http_status=200)
        contacts = answer.get("contacts") or [{}]
        return Sent(wamid=str(messages[0]["id"]), wa_id=contacts[0].get("wa_id"),
                    response=answer)

    def mark_read(self, wamid: str) -> bool:
        """Mark an inbound message (and the ones before it) read on WhatsApp."""
        answer = self.request("POST", self.number.phone_number_id, "messages", json={
            "messaging_product": "whatsapp", "status": "read", "message_id": wamid,
        })
        return bool(isinstance(answer, dict) and answer.get("success"))

    def get_phone_number(
        self, fields: str = "id,display_phone_number,verified_name,quality_rating"
    ) -> dict[str, Any]:
        """The number's details as Meta knows them (only with a token that may use it)."""
        answer = self.request("GET", self.number.phone_number_id, params={"fields": fields})
        return answer if isinstance(answer, dict) else {}

    def request(self, method: str, *segments: str, **kwargs: Any) -> Any:
        """Call the path of `segments` (`waba_id, "message_templates"`); the decoded JSON."""
        response = self.request_raw(method, *segments, **kwargs)
        return _decode(response)

    def request_raw(
        self, method: str, *segments: str, params: Mapping[str, Any] | None = None,
        json: Any = None, data: Mapping[str, Any] | None = None, files: Any = None,
    ) -> httpx.Response:
        """Call the Graph API with retries; the successful httpx.Response, or a GraphError.

        The URL is the versioned root and `segments`, each checked (`graph_url`).
        """
        return self._call(method.upper(), graph_url(*segments), None, params=params, json=json,
                          data=data, files=files)

    def download(self, url: str, sink: Sink) -> httpx.Response:
        """Stream the media file at `url` (the one Meta gave for a media id) into `sink`.

        Meta wants the number's token on its media host too, so the URL must be on one of
        WHATSAPP_MEDIA_ORIGINS; any other is refused before a connection is made.
        """
        return self._call("GET", str(media_url(url)), sink)

    # --- internals -------------------------------------------------------------------------

    def _call(self, method: str, url: str, sink: Sink | None, **kwargs: Any) -> httpx.Response:
        """One call with retries; with a `sink`, a successful body is streamed into it."""
        attempt = 0
        while True:
            try:
                return self._attempt(method, url, sink, **kwargs)
            except GraphError as error:
                if attempt >= self._retries or not self._may_retry(method, error):
                    raise
                attempt += 1
                self._sleep(self._backoff(attempt, error.retry_after))

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
        """`value` with the access token (and any `access_token`) masked wherever it appears."""
        if isinstance(value, str):
            value = value.replace(self._token, "***") if self._token in value else value
            return _TOKEN_IN_TEXT.sub(r"\1***", value)
        if isinstance(value, dict):
            return {k: "***" if str(k).lower() in _SECRET_KEYS else self._scrub(v)
                    for k, v in value.items()}
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
        if error is not None:
            GRAPH_ERRORS.labels(str(error.code) if error.code is not None else "none").inc()
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
        request = {"method": method, **({"params": {
            key: "***" if key in _SECRET_PARAMS else value
            for key, value in kwargs["params"].items()}} if kwargs.get("params") else {})}
        if payload is not None:
            request["json"] = payload
        if kwargs.get("data"):
            request["data"] = dict(kwargs["data"])
        if kwargs.get("files"):
            request["files"] = "(file upload, not recorded)"
        recipient = (payload.get("to") or payload.get("recipient")) if isinstance(
            payload, dict) else None
        return {
            "campaign_id": self._campaign.pk if self._campaign else None,
            "job_id": self._job.pk if self._job else None,
            "phone_number": str(recipient or self.number.phone_number_id)[:20],
            "request_url": self._scrub(str(url))[:500],
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
