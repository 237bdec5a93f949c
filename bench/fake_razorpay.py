"""A fake of Razorpay's REST API (payment links) for tests, benchmarks and the demo; never Razorpay.

    python bench/fake_razorpay.py --port 8082                     # serve (bin/run starts it)
    RAZORPAY_API_URL=http://127.0.0.1:8082/v1 bin/run
    python bench/fake_razorpay.py pay --organization <id> --webhook-secret <secret>
        # pays the newest unpaid link and POSTs Razorpay's signed payment_link.paid to the app

Answers `POST /v1/payment_links`, `GET /v1/payment_links` (`count`), `GET /v1/payment_links/{id}`
and `POST /v1/payment_links/{id}/cancel` with HTTP Basic auth; keys are accepted when added with
`FakeRazorpay.add_account()` (the server: `--key-id`/`--key-secret`), anything else is a 401.
`pay()` / `expire()` change a link as the customer or the clock would, and `event()` builds the
webhook Razorpay would send, signed with a webhook secret. `GET /_fake/links` lists the links.
The same handler serves an `httpx.MockTransport` (`FakeRazorpay.transport()`).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import itertools
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the root too
from bench.fake_http import FakeServer, mock_transport  # noqa: E402

if TYPE_CHECKING:
    import httpx


def sign(body: bytes, secret: str) -> str:
    """Razorpay's X-Razorpay-Signature: hex HMAC-SHA256 of the raw body with the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _error(status: int, description: str) -> tuple[int, Any]:
    return status, {"error": {"code": "BAD_REQUEST_ERROR", "description": description}}


@dataclass
class FakeRazorpay:
    """Razorpay's payment links, kept in memory per account (key id)."""

    accounts: dict[str, str] = field(default_factory=dict)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_account(self, key_id: str, key_secret: str) -> None:
        """Accept these keys from now on."""
        self.accounts[key_id] = key_secret

    def fail(self, status: int, times: int = 1) -> None:
        """Answer the next `times` API calls with `status`."""
        self.failures.extend([status] * times)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):010d}"

    def _account(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Basic "):
            return None
        try:
            key_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return None
        known = self.accounts.get(key_id)
        return key_id if known is not None and hmac.compare_digest(known, secret) else None

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, Any]:
        """Answer one request: (status, JSON body)."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/")
        if path == "/_fake/links":
            return 200, {"items": [_public(link) for link in self.links.values()]}
        if path == "/_fake/pay" and method == "POST":
            unpaid = [key for key, link in self.links.items() if link["status"] == "created"]
            if not unpaid:
                return _error(404, "No unpaid link: send one from the inbox first")
            self.pay(unpaid[-1])
            return 200, json.loads(self.event("payment_link.paid", unpaid[-1]))
        with self._lock:
            self.requests.append((method, path))
            if self.failures:
                return _error(self.failures.pop(0), "The fake was told to fail this call")
            account = self._account(headers.get("authorization"))
            if account is None:
                return 401, {"error": {"code": "BAD_REQUEST_ERROR",
                                       "description": "Authentication failed"}}
            segments = path.split("/")[1:]
            if segments[:2] != ["v1", "payment_links"]:
                return _error(404, "The requested URL was not found on the server.")
            if len(segments) == 2 and method == "POST":
                return self._create(account, raw)
            if len(segments) == 2 and method == "GET":
                count = int(parse_qs(parts.query).get("count", ["10"])[0])
                mine = [link for link in self.links.values() if link["_account"] == account]
                return 200, {"count": min(count, len(mine)),
                             "payment_links": [_public(link) for link in mine[:count]]}
            link = self.links.get(segments[2]) if len(segments) > 2 else None
            if link is None or link["_account"] != account:
                return _error(404, "The id provided does not exist")
            if len(segments) == 3 and method == "GET":
                return 200, _public(link)
            if segments[3:] == ["cancel"] and method == "POST":
                link["status"] = "cancelled"
                return 200, _public(link)
            return _error(404, "The requested URL was not found on the server.")

    def _create(self, account: str, raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _error(400, "The request body is not JSON")
        amount = body.get("amount") if isinstance(body, dict) else None
        if not isinstance(amount, int) or amount < 100:
            return _error(400, "The amount must be atleast INR 1.00")
        reference = body.get("reference_id")
        if reference and any(link["reference_id"] == reference and link["_account"] == account
                             for link in self.links.values()):
            return _error(400, "Reference ID already exists")
        link_id = self._new_id("plink")
        link = {"_account": account, "id": link_id, "entity": "payment_link",
                "amount": amount, "amount_paid": 0, "currency": body.get("currency", "INR"),
                "reference_id": reference, "description": body.get("description"),
                "customer": body.get("customer") or {}, "notes": body.get("notes") or {},
                "expire_by": body.get("expire_by") or 0, "status": "created",
                "short_url": f"https://rzp.io/i/{link_id[-8:]}", "payments": [],
                "created_at": int(time.time())}
        self.links[link_id] = link
        return 200, _public(link)

    def pay(self, link_id: str, method: str = "upi") -> dict[str, Any]:
        """The customer pays the link in full: the payment Razorpay records."""
        with self._lock:
            link = self.links[link_id]
            payment = {"id": self._new_id("pay"), "entity": "payment", "amount": link["amount"],
                       "currency": link["currency"], "status": "captured", "method": method,
                       "order_id": self._new_id("order"), "notes": link["notes"],
                       "created_at": int(time.time())}
            link.update(status="paid", amount_paid=link["amount"])
            link["payments"].append({"payment_id": payment["id"], "amount": payment["amount"],
                                     "method": method, "status": "captured"})
            link["_payment"] = payment
            return payment

    def expire(self, link_id: str) -> None:
        """The link's expire_by passed unpaid."""
        with self._lock:
            self.links[link_id]["status"] = "expired"

    def event(self, name: str, link_id: str, *, account_id: str = "acc_fake") -> bytes:
        """The raw body of the webhook Razorpay sends about `link_id` (`payment_link.paid`, ...)."""
        link = self.links[link_id]
        payload: dict[str, Any] = {"payment_link": {"entity": _public(link)}}
        if link.get("_payment"):
            payload["payment"] = {"entity": link["_payment"]}
        return json.dumps({"entity": "event", "account_id": account_id, "event": name,
                           "contains": sorted(payload), "payload": payload,
                           "created_at": int(time.time())}).encode()

    def transport(self) -> httpx.MockTransport:
        """The fake as an httpx transport (tests: no socket)."""
        return mock_transport(self)


def _public(link: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in link.items() if not key.startswith("_")}


class FakeRazorpayServer(FakeServer[FakeRazorpay]):
    """The fake on a real socket; its url (ending in /v1) is the RAZORPAY_API_URL to use."""

    def __init__(self, port: int = 0, fake: FakeRazorpay | None = None) -> None:
        super().__init__(fake or FakeRazorpay(), port, "/v1")


def _pay_newest(args: argparse.Namespace) -> None:
    """Ask the running fake to pay its newest unpaid link, then deliver the signed webhook."""
    fake_url = f"http://127.0.0.1:{args.port}"
    request = urllib.request.Request(f"{fake_url}/_fake/pay", method="POST", data=b"{}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
    except urllib.error.HTTPError as refusal:
        sys.exit(f"The fake Razorpay paid nothing: {refusal.read().decode()}")
    event_id = f"evt_{int(time.time() * 1000)}"
    webhook = f"{args.app.rstrip('/')}/webhooks/razorpay/{args.organization}/"
    request = urllib.request.Request(webhook, data=body, method="POST", headers={
        "Content-Type": "application/json", "x-razorpay-event-id": event_id,
        "X-Razorpay-Signature": sign(body, args.webhook_secret)})
    with urllib.request.urlopen(request, timeout=10) as answer:
        print(f"{webhook}: {answer.status} {answer.read().decode()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "pay"])
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--key-id", default="rzp_test_demo")
    parser.add_argument("--key-secret", default="demo-key-secret")
    parser.add_argument("--app", default="http://127.0.0.1:8000")
    parser.add_argument("--organization", help="pay: the organization id of the webhook URL")
    parser.add_argument("--webhook-secret", default="demo-webhook-secret")
    args = parser.parse_args()
    if args.command == "pay":
        if not args.organization:
            sys.exit("pay needs --organization (seed_demo prints the demo organization's id)")
        _pay_newest(args)
        return
    fake = FakeRazorpay()
    fake.add_account(args.key_id, args.key_secret)
    server = FakeRazorpayServer(args.port, fake)
    print(f"Fake Razorpay on {server.url} (RAZORPAY_API_URL={server.url})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
