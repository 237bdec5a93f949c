"""A fake receiver of outgoing webhooks for tests and the demo: records every delivery, checks its
signature like a real receiver should, and fails when told to.

    python bench/fake_subscriber.py --port 8082 --secret whsec_...

Every POST is recorded (`GET /_fake/deliveries`, reset by `POST /_fake/reset`) with whether its
`X-WBCRM-Signature` verified against the secret (`POST /_fake/secret {"secret": "..."}`, or
`--secret`), and answered 200, or 401 when the signature is wrong or too old (a replay). Failures
are queued with `FakeSubscriber.fail()` in process or `POST /_fake/fail {"status": 500,
"times": 1}` (a 3xx with `"location"` answers a redirect). The same handler serves an
`httpx.MockTransport` (`FakeSubscriber.transport()`), so tests need no socket.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the root too
from bench.fake_http import Binary, FakeServer, mock_transport  # noqa: E402

if TYPE_CHECKING:
    import httpx

TOLERANCE_SECONDS = 300


def verify(secret: str, header: str | None, body: bytes, now: float) -> bool:
    """What a receiver does (README, Outgoing webhooks), written apart from the sender's code:
    `t=<seconds>,v1=<hex>`, the HMAC-SHA256 of `<t>.<body>` with the secret, `t` recent."""
    fields = dict(part.strip().partition("=")[::2] for part in (header or "").split(","))
    if not fields.get("t", "").isdigit() or abs(now - int(fields["t"])) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


@dataclass
class Received:
    """One delivery the fake received and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int

    @property
    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)

    def as_json(self) -> dict[str, Any]:
        """The record (the signature header itself left out)."""
        return {"path": self.path, "event": self.headers.get("x-wbcrm-event"),
                "event_id": self.headers.get("x-wbcrm-event-id"), "verified": self.verified,
                "status": self.status, "body": self.json}


@dataclass
class Failure:
    status: int
    times: int
    location: str | None = None


@dataclass
class FakeSubscriber:
    """The receiver's state: its secret, what it received, the failures it still has to give."""

    secret: str = ""
    clock: Callable[[], float] = time.time
    received: list[Received] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int = 500, times: int = 1, location: str | None = None) -> None:
        """Answer the next `times` deliveries with `status` (a redirect to `location`)."""
        with self.lock:
            self.failures.append(Failure(status, times, location))

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, Any]:
        """Answer one request: a `/_fake/...` control, else a delivery."""
        if target.startswith("/_fake/"):
            return self.control(method, target, raw)
        verified = verify(self.secret, headers.get("x-wbcrm-signature"), raw, self.clock())
        answer: Any
        with self.lock:
            if not verified:
                status, answer = 401, {"error": "bad or stale signature"}
            elif self.failures:
                failure = self.failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.pop(0)
                status, answer = failure.status, {"error": "told to fail"}
                if failure.location:
                    answer = Binary(json.dumps(answer).encode(), "application/json",
                                    {"Location": failure.location})
            else:
                status, answer = 200, {"ok": True}
            self.received.append(Received(target, headers, raw, verified, status))
        return status, answer

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering every request with this fake."""
        return mock_transport(self)

    def control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """The `/_fake/...` endpoints of the HTTP server."""
        data = json.loads(body or b"{}")
        if method == "GET" and path == "/_fake/deliveries":
            return 200, [r.as_json() for r in self.received]
        if method == "POST" and path == "/_fake/reset":
            self.received.clear()
            self.failures.clear()
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/secret":
            self.secret = str(data.get("secret", ""))
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/fail":
            self.fail(int(data.get("status", 500)), int(data.get("times", 1)),
                      data.get("location"))
            return 200, {"ok": True}
        return 404, {"error": "unknown fake endpoint"}


def main() -> None:
    """Run the fake receiver until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--secret", default="")
    arguments = parser.parse_args()
    server = FakeServer(FakeSubscriber(secret=arguments.secret), arguments.port)
    print(f"fake webhook receiver on {server.url}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
