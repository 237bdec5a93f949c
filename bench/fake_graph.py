"""A fake of Meta's Graph API for local runs, benchmarks and tests: answers like Meta, never Meta.

    python bench/fake_graph.py --port 8081 [--latency-ms 0]
    WHATSAPP_GRAPH_URL=http://127.0.0.1:8081 bin/run

Answers `POST /{version}/{phone_number_id}/messages` (a send: a new wamid; `status: read`:
success), `GET /{version}/{phone_number_id}` (the number's details); any request without a bearer
token is a 401 (code 190). Errors are queued with `FakeGraph.fail()` in process or
`POST /_fake/errors {"code": 131047, "status": 400, "times": 1, "to": "<wa_id or omit>"}` over
HTTP. Every request is recorded with the server's own clock (`GET /_fake/requests`, reset by
`POST /_fake/reset`), so a benchmark can split a round trip into the app's time and the fake's.
The same handler serves an `httpx.MockTransport` (`FakeGraph.transport()`), so tests get the
fake's answers without a socket.
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
    answered_at: float | None = None
    status: int | None = None
    answer: Any = None

    def as_json(self) -> dict[str, Any]:
        """The record, the token masked."""
        return {"method": self.method, "path": self.path, "query": self.query,
                "body": self.body, "authorized": bool(self.authorization),
                "received_at": self.received_at, "answered_at": self.answered_at,
                "status": self.status, "answer": self.answer}


@dataclass
class QueuedError:
    code: int
    status: int
    times: int
    to: str | None = None
    message: str = "(fake) error"


@dataclass
class FakeGraph:
    """The fake's state: recorded calls, queued errors, and its routes."""

    latency: float = 0.0
    calls: list[Call] = field(default_factory=list)
    errors: list[QueuedError] = field(default_factory=list)
    routes: list[tuple[str, re.Pattern[str], Route]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.route("POST", r"/v[\d.]+/(?P<number>[^/]+)/messages", _messages)
        self.route("GET", r"/v[\d.]+/(?P<number>[^/]+)", _phone_number)

    def route(self, method: str, pattern: str, handler: Route) -> None:
        """Answer `method` on paths matching `pattern` (full match) with `handler`."""
        self.routes.insert(0, (method, re.compile(pattern), handler))

    def fail(self, code: int, *, status: int | None = None, times: int = 1,
             to: str | None = None, message: str = "(fake) error") -> None:
        """Answer the next `times` matching requests (to `to`, if given) with Meta error `code`."""
        with self._lock:
            self.errors.append(QueuedError(code, status or ERROR_STATUS.get(code, 400), times,
                                           to, message))

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
        """Answer one request: (HTTP status, JSON body)."""
        url = urlsplit(target)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = {"_raw_bytes": len(raw)}
        call = Call(method, url.path, parse_qs(url.query), body,
                    headers.get("authorization"), time.time())
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
        to = call.body.get("to") if isinstance(call.body, dict) else None
        with self._lock:
            for queued in self.errors:
                if queued.to is None or queued.to == to:
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
                      times=int(call.body.get("times", 1)), to=call.body.get("to"))
            return 200, {"success": True}
        return 404, {"error": "unknown control path"}

    def transport(self) -> Any:
        """An httpx.MockTransport answering with this fake (tests: no socket at all)."""
        import httpx

        def handler(request: httpx.Request) -> httpx.Response:
            status, answer = self.handle(request.method, str(request.url.raw_path, "ascii"),
                                         {k.lower(): v for k, v in request.headers.items()},
                                         request.read())
            return httpx.Response(status, json=answer)

        return httpx.MockTransport(handler)


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
    if not body.get("to") or kind not in body:
        return error_body(131008, 400, "(fake) Required parameter is missing.")
    return 200, {"messaging_product": "whatsapp",
                 "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                 "messages": [{"id": fake.new_wamid()}]}


def _phone_number(fake: FakeGraph, call: Call, match: re.Match[str]) -> tuple[int, Any]:
    number = match["number"]
    return 200, {"id": number, "display_phone_number": f"+1 555 {number[-7:]}",
                 "verified_name": "Fake Business", "quality_rating": "GREEN"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like Meta
    disable_nagle_algorithm = True  # else each answer waits for the client's delayed ACK

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, answer = self.server.fake.handle(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw
        )
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Quiet: the recorded calls are the log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeGraph) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class FakeGraphServer:
    """The fake on a real socket in a background thread (port 0: any free port)."""

    def __init__(self, port: int = 0, fake: FakeGraph | None = None) -> None:
        self.fake = fake or FakeGraph()
        self._server = _Server(("127.0.0.1", port), self.fake)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to use as WHATSAPP_GRAPH_URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeGraphServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every answer, to stand for Meta's own latency")
    args = parser.parse_args()
    server = FakeGraphServer(args.port, FakeGraph(latency=args.latency_ms / 1000))
    print(f"Fake Graph API on {server.url} (WHATSAPP_GRAPH_URL={server.url})", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()


if __name__ == "__main__":
    main()
