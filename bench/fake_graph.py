"""A fake of Meta's Graph API for local runs, benchmarks and tests: answers like Meta, never Meta.

    python bench/fake_graph.py --port 8081 [--latency-ms 0]
    WHATSAPP_GRAPH_URL=http://127.0.0.1:8081 bin/run

Answers `POST /{version}/{phone_number_id}/messages` (a send: a new wamid; `status: read`:
success), `GET /{version}/{phone_number_id}` (the number's details), Embedded Signup's calls
(`GET /{version}/oauth/access_token` exchanging any code but `bad` for a business token,
`POST /{version}/{waba_id}/subscribed_apps`, `POST /{version}/{phone_number_id}/register` with a
6-digit pin), the templates of an account
(`GET` paged by `limit`/`after`, `POST`, `DELETE /{version}/{waba_id}/message_templates`; seed
them with `FakeGraph.add_template()`), media (`POST /{version}/{phone_number_id}/media`
multipart, `GET /{version}/{media_id}` for its short-lived URL, that URL for the bytes; seed with
`FakeGraph.add_media()`); any request without a bearer token is a 401 (code 190). Errors are
queued with `FakeGraph.fail()` in process or
`POST /_fake/errors {"code": 131047, "status": 400, "times": 1, "to": "<wa_id or omit>"}` over
HTTP (`"path": "/register"` limits one to the requests on such a path). Every request is
recorded with the server's own clock (`GET /_fake/requests`, reset by `POST /_fake/reset`), so
a benchmark can split a round trip into the app's time and the fake's.
The same handler serves an `httpx.MockTransport` (`FakeGraph.transport()`), so tests get the
fake's answers without a socket.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import hashlib
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the root too
from bench.fake_http import Binary, FakeServer, mock_transport  # noqa: E402

if TYPE_CHECKING:
    import httpx

Route = Callable[["FakeGraph", "Call", re.Match[str]], tuple[int, Any]]
ERROR_STATUS = {0: 401, 190: 401, 4: 429, 80007: 429, 130429: 429, 1: 500, 2: 503, 131000: 500}


@dataclass
class Call:
    """One request the fake received, with its own timestamps (time.time(), seconds)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None
    received_at: float
    raw: bytes = b""
    content_type: str | None = None
    base_url: str = "http://127.0.0.1"  # where the fake was reached (its media URLs point there)
    answered_at: float | None = None
    status: int | None = None
    answer: Any = None

    def as_json(self) -> dict[str, Any]:
        """The record, the token masked."""
        return {"method": self.method, "path": self.path, "query": self.query,
                "body": self.body, "authorized": bool(self.authorization),
                "received_at": self.received_at, "answered_at": self.answered_at,
                "status": self.status, "answer": (
                    {"bytes": len(self.answer.content), "mime_type": self.answer.mime_type}
                    if isinstance(self.answer, Binary) else self.answer)}


@dataclass
class QueuedError:
    code: int
    status: int
    times: int
    to: str | None = None
    message: str = "(fake) error"
    path: str | None = None  # only requests whose path ends with this


@dataclass
class FakeGraph:
    """The fake's state: recorded calls, queued errors, and its routes."""

    latency: float = 0.0
    calls: list[Call] = field(default_factory=list)
    errors: list[QueuedError] = field(default_factory=list)
    routes: list[tuple[str, re.Pattern[str], Route]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    templates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by WABA id
    media: dict[str, Binary] = field(default_factory=dict)  # by media id

    def __post_init__(self) -> None:
        self.route("POST", r"/v[\d.]+/(?P<number>[^/]+)/messages", _messages)
        self.route("GET", r"/v[\d.]+/(?P<number>[^/]+)", _phone_number)
        self.route("GET", r"/v[\d.]+/(?P<number>[^/]+)", _media_url)
        self.route("GET", r"/_media/(?P<media>[^/]+)", _media_download)
        self.route("POST", r"/v[\d.]+/(?P<number>[^/]+)/media", _upload)
        for method in ("GET", "POST", "DELETE"):
            self.route(method, r"/v[\d.]+/(?P<waba>[^/]+)/message_templates", _templates)
        self.route("GET", r"/v[\d.]+/oauth/access_token", _access_token)
        self.route("POST", r"/v[\d.]+/(?P<waba>[^/]+)/subscribed_apps", _success)
        self.route("POST", r"/v[\d.]+/(?P<number>[^/]+)/register", _register)

    def add_template(self, waba_id: str, name: str, language: str = "en_US", **values: Any
                     ) -> dict[str, Any]:
        """Seed a template on an account, as Meta lists it."""
        template = {"name": name, "language": language, "status": "APPROVED",
                    "category": "UTILITY", "components": [{"type": "BODY", "text": "Hello"}],
                    **values, "id": str(next(self._ids))}
        with self._lock:
            self.templates.setdefault(waba_id, []).append(template)
        return template

    def add_media(self, content: bytes, mime_type: str) -> str:
        """Seed a media file (as if a customer had sent it); its media id."""
        media_id = str(10**15 + next(self._ids))
        with self._lock:
            self.media[media_id] = Binary(content, mime_type)
        return media_id

    def route(self, method: str, pattern: str, handler: Route) -> None:
        """Answer `method` on paths matching `pattern` (full match) with `handler`."""
        self.routes.insert(0, (method, re.compile(pattern), handler))

    def fail(self, code: int, *, status: int | None = None, times: int = 1,
             to: str | None = None, message: str = "(fake) error", path: str | None = None
             ) -> None:
        """Answer the next `times` matching requests (to `to`, and on a path ending with `path`,
        if given) with Meta error `code`."""
        with self._lock:
            self.errors.append(QueuedError(code, status or ERROR_STATUS.get(code, 400), times,
                                           to, message, path))

    def reset(self) -> None:
        """Forget recorded calls and queued errors."""
        with self._lock:
            self.calls.clear()
            self.errors.clear()

    def new_wamid(self) -> str:
        """A fresh message id in Meta's format."""
        return f"wamid.FAKE{next(self._ids):012d}{time.time_ns() % 10**9:09d}"

    def sent(self) -> list[Call]:
        """The message sends received (not mark-read calls)."""
        return [c for c in self.calls if c.path.endswith("/messages") and c.method == "POST"
                and isinstance(c.body, dict) and "status" not in c.body]

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, Any]:
        """Answer one request: (HTTP status, JSON body or Binary)."""
        url = urlsplit(target)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = {"_raw_bytes": len(raw)}
        call = Call(method, url.path, parse_qs(url.query), body,
                    headers.get("authorization"), time.time(), raw, headers.get("content-type"),
                    f"http://{headers.get('host', '127.0.0.1')}")
        with self._lock:
            self.calls.append(call)
        if self.latency:
            time.sleep(self.latency)
        status, answer = self._answer(call)
        call.status, call.answer, call.answered_at = status, answer, time.time()
        return status, answer

    def _answer(self, call: Call) -> tuple[int, Any]:
        if call.path.startswith("/_fake/"):
            return self._control(call)
        if not (call.authorization or "").startswith("Bearer ") or call.authorization == "Bearer ":
            return error_body(190, 401, "(fake) Invalid OAuth access token.")
        queued = self._take_error(call)
        if queued is not None:
            return error_body(queued.code, queued.status, queued.message)
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(call.path)
            if method == call.method and match:
                return handler(self, call, match)
        return error_body(100, 400, f"(fake) Unsupported {call.method} request {call.path}")

    def _take_error(self, call: Call) -> QueuedError | None:
        to = (call.body.get("to") or call.body.get("recipient")) if isinstance(
            call.body, dict) else None
        with self._lock:
            for queued in self.errors:
                if (queued.to is None or queued.to == to) and (
                        queued.path is None or call.path.endswith(queued.path)):
                    queued.times -= 1
                    if queued.times <= 0:
                        self.errors.remove(queued)
                    return queued
        return None

    def _control(self, call: Call) -> tuple[int, Any]:
        if call.path == "/_fake/requests":
            with self._lock:
                return 200, {"data": [c.as_json() for c in self.calls if
                                      not c.path.startswith("/_fake/")]}
        if call.path == "/_fake/reset" and call.method == "POST":
            self.reset()
            return 200, {"success": True}
        if call.path == "/_fake/errors" and call.method == "POST" and isinstance(call.body, dict):
            self.fail(int(call.body["code"]), status=call.body.get("status"),
                      times=int(call.body.get("times", 1)), to=call.body.get("to"),
                      path=call.body.get("path"))
            return 200, {"success": True}
        return 404, {"error": "unknown control path"}

    def transport(self) -> httpx.MockTransport:
        """An httpx.MockTransport answering with this fake (tests: no socket at all)."""
        return mock_transport(self)


def error_body(code: int, status: int, message: str) -> tuple[int, dict[str, Any]]:
    """Meta's error answer."""
    return status, {"error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message},
        "fbtrace_id": "FAKEtrace",
    }}


def _messages(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    body = call.body if isinstance(call.body, dict) else {}
    if body.get("messaging_product") != "whatsapp":
        return error_body(100, 400, "(fake) The parameter messaging_product is required.")
    if body.get("status") == "read":
        if not body.get("message_id"):
            return error_body(100, 400, "(fake) The parameter message_id is required.")
        return 200, {"success": True}
    kind = body.get("type", "text")
    to = body.get("to") or body.get("recipient")  # a business-scoped user id: `recipient`
    if not to or kind not in body:
        return error_body(131008, 400, "(fake) Required parameter is missing.")
    contact = {"input": to, "wa_id" if body.get("to") else "user_id": to}
    return 200, {"messaging_product": "whatsapp", "contacts": [contact],
                 "messages": [{"id": fake.new_wamid()}]}


def _phone_number(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    number = match["number"]
    return 200, {"id": number, "display_phone_number": f"+1 555 {number[-7:]}",
                 "verified_name": "Fake Business", "quality_rating": "GREEN"}


def _access_token(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    """Embedded Signup's code exchange: a business token for any code (`bad` fails)."""
    query = {key: values[-1] for key, values in call.query.items()}
    if not query.get("client_id") or not query.get("client_secret"):
        return error_body(101, 400, "(fake) Missing client_id or client_secret.")
    if not query.get("code") or query["code"] == "bad":
        return error_body(100, 400, "(fake) Invalid verification code format.")
    token = "EAAFAKE" + hashlib.sha256(query["code"].encode()).hexdigest()[:24]
    return 200, {"access_token": token, "token_type": "bearer"}


def _success(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    return 200, {"success": True}


def _register(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    body = call.body if isinstance(call.body, dict) else {}
    pin = body.get("pin")
    if body.get("messaging_product") != "whatsapp" or not (
            isinstance(pin, str) and re.fullmatch(r"[0-9]{6}", pin)):
        return error_body(100, 400, "(fake) messaging_product and a 6-digit pin are required.")
    return 200, {"success": True}


def _templates(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    """List (paged by `limit` and the `after` cursor), create or delete an account's templates."""
    waba = match["waba"]
    query = {key: values[-1] for key, values in call.query.items()}
    with fake._lock:
        templates = fake.templates.setdefault(waba, [])
        if call.method == "GET":
            start, limit = int(query.get("after") or 0), int(query.get("limit") or 25)
            page = {"data": templates[start:start + limit]}
            if start + limit < len(templates):
                after = str(start + limit)
                page["paging"] = {"cursors": {"before": str(start), "after": after},
                                  "next": f"https://graph.example/{waba}/message_templates"
                                          f"?access_token=SECRET&after={after}"}
            return 200, page
        if call.method == "DELETE":
            kept = [t for t in templates if t["name"] != query.get("name") or (
                query.get("hsm_id") and t["id"] != query["hsm_id"])]
            if len(kept) == len(templates):
                return error_body(100, 400, "(fake) Template not found.")
            templates[:] = kept
            return 200, {"success": True}
    body = call.body if isinstance(call.body, dict) else {}
    if not all(body.get(key) for key in ("name", "language", "category", "components")):
        return error_body(100, 400, "(fake) name, language, category and components required.")
    if any(t["name"] == body["name"] and t["language"] == body["language"] for t in templates):
        return error_body(100, 400, "(fake) A template with this name and language exists.")
    created = fake.add_template(waba, body["name"], body["language"], status="PENDING",
                                category=body["category"], components=body["components"])
    return 200, {"id": created["id"], "status": "PENDING", "category": body["category"]}


def _media_url(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    """A media id's short-lived URL (an unknown id is a phone number id, as on Meta)."""
    media = fake.media.get(match["number"])
    if media is None:
        return _phone_number(fake, call, match)
    return 200, {"messaging_product": "whatsapp", "id": match["number"],
                 "url": f"{call.base_url}/_media/{match['number']}", "mime_type": media.mime_type,
                 "sha256": hashlib.sha256(media.content).hexdigest(),
                 "file_size": len(media.content)}


def _media_download(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    media = fake.media.get(match["media"])
    return (200, media) if media else error_body(100, 404, "(fake) Unknown media.")


def _upload(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    """A multipart upload: `file`, `type`, `messaging_product=whatsapp`."""
    message = email.message_from_bytes(
        f"Content-Type: {call.content_type}\r\n\r\n".encode() + call.raw, policy=email.policy.HTTP
    )
    parts = {part.get_param("name", header="content-disposition"): part
             for part in message.iter_parts()} if message.is_multipart() else {}
    if "file" not in parts or parts.get("messaging_product") is None:
        return error_body(100, 400, "(fake) file and messaging_product are required.")
    kind = parts["type"].get_content() if "type" in parts else None
    content = parts["file"].get_payload(decode=True)
    return 200, {"id": fake.add_media(content, str(kind or parts["file"].get_content_type()))}


class FakeGraphServer(FakeServer[FakeGraph]):
    """The fake on a real socket; its url is the WHATSAPP_GRAPH_URL to use."""

    def __init__(self, port: int = 0, fake: FakeGraph | None = None) -> None:
        super().__init__(fake or FakeGraph(), port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every answer, to stand for Meta's own latency")
    args = parser.parse_args()
    server = FakeGraphServer(args.port, FakeGraph(latency=args.latency_ms / 1000))
    print(f"Fake Graph API on {server.url} (WHATSAPP_GRAPH_URL={server.url})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
