"""A fake of Zoho's accounts server and CRM API for local runs and tests: answers like Zoho, never
Zoho.

    python bench/fake_zoho.py --port 8084                   # serve (bin/run starts it)
    ZOHO_ACCOUNTS_URL=http://127.0.0.1:8084 ZOHO_API_URL=http://127.0.0.1:8084 ...

Answers `POST /oauth/v2/token` (grant_type=refresh_token, in the form body or the query: a new
access token, `expires_in` seconds; `{"error": "invalid_code"}` for a revoked refresh token) and
`POST /crm/v<N>/Leads` (`Authorization: Zoho-oauthtoken <token>`; a new id per record,
`MANDATORY_NOT_FOUND` without `Last_Name`, 401 `INVALID_TOKEN` for an unknown or expired token),
under any path prefix (so one fake serves both roots). Control it in process (`expire_tokens()`,
`revoke()`, `fail()`) or over HTTP: `POST /_fake/expire`, `POST /_fake/revoke {"refresh_token":
...}` (all when omitted), `POST /_fake/errors {"status": 503, "times": 1}`, `GET /_fake/requests`,
`POST /_fake/reset`. The same handler serves an `httpx.MockTransport` (`FakeZoho.transport()`).
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the root too
from bench.fake_http import FakeServer, mock_transport  # noqa: E402

if TYPE_CHECKING:
    import httpx

TOKEN_PATH = re.compile(r"(?:/.*)?/oauth/v2/token")
LEADS_PATH = re.compile(r"(?:/.*)?/crm/v\d+(?:\.\d+)?/Leads")


@dataclass
class Call:
    """One request the fake received (secrets left out: only whether they were sent)."""

    method: str
    path: str
    body: Any
    authorized: bool
    status: int | None = None
    answer: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": self.body,
                "authorized": self.authorized, "status": self.status, "answer": self.answer}


@dataclass
class FakeZoho:
    """The fake's state: issued tokens, revoked refresh tokens, created leads, queued errors."""

    expires_in: int = 3600
    calls: list[Call] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    revoke_all: bool = False
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[list[int]] = field(default_factory=list)  # [status, times left]
    # Called with each request before it is answered (tests hold a call back to order threads).
    before_answer: Callable[[Call], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (as when its hour is over)."""
        with self._lock:
            self.tokens.clear()

    def revoke(self, refresh_token: str | None = None) -> None:
        """Refuse `refresh_token` (every one when None) from now on, as a revoked grant."""
        with self._lock:
            if refresh_token is None:
                self.revoke_all = True
            else:
                self.revoked.add(refresh_token)

    def fail(self, status: int = 503, times: int = 1) -> None:
        """Answer the next `times` lead requests with HTTP `status`."""
        with self._lock:
            self.errors.append([status, times])

    def reset(self) -> None:
        """Forget calls, tokens, revocations, leads and queued errors."""
        with self._lock:
            self.calls.clear()
            self.tokens.clear()
            self.revoked.clear()
            self.revoke_all = False
            self.leads.clear()
            self.errors.clear()

    def token_calls(self) -> list[Call]:
        """The refresh requests received."""
        return [c for c in self.calls if TOKEN_PATH.fullmatch(c.path)]

    def lead_calls(self) -> list[Call]:
        """The lead requests received."""
        return [c for c in self.calls if LEADS_PATH.fullmatch(c.path)]

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, Any]:
        """Answer one request: (HTTP status, JSON body)."""
        url = urlsplit(target)
        form = {key: values[-1] for key, values in parse_qs(url.query).items()}
        body: Any = None
        if raw and "json" in headers.get("content-type", ""):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        elif raw:
            form.update({key: values[-1] for key, values in parse_qs(raw.decode()).items()})
        authorization = headers.get("authorization", "")
        call = Call(method, url.path, body if body is not None else sorted(form),
                    bool(authorization))
        with self._lock:
            self.calls.append(call)
        if self.before_answer is not None:
            self.before_answer(call)
        call.status, call.answer = self._answer(method, url.path, form, body, authorization)
        return call.status, call.answer

    def _answer(self, method: str, path: str, form: dict[str, str], body: Any,
                authorization: str) -> tuple[int, Any]:
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        if method == "POST" and TOKEN_PATH.fullmatch(path):
            return self._token(form)
        if method == "POST" and LEADS_PATH.fullmatch(path):
            return self._leads(body, authorization)
        return 404, {"code": "INVALID_URL_PATTERN", "message": "(fake) unknown path"}

    def _token(self, form: dict[str, str]) -> tuple[int, Any]:
        refresh = form.get("refresh_token", "")
        if form.get("grant_type") != "refresh_token" or not form.get("client_id"):
            return 400, {"error": "invalid_request"}
        if not form.get("client_secret"):
            return 200, {"error": "invalid_client"}
        with self._lock:
            if not refresh or self.revoke_all or refresh in self.revoked:
                return 200, {"error": "invalid_code"}  # Zoho answers 200 with the error
            token = f"1000.fake{next(self._ids):08d}.{abs(hash(refresh)) % 10**8:08d}"
            self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": self.expires_in,
                     "api_domain": "https://www.zohoapis.example", "token_type": "Bearer"}

    def _leads(self, body: Any, authorization: str) -> tuple[int, Any]:
        token = authorization.removeprefix("Zoho-oauthtoken ")
        with self._lock:
            if not authorization.startswith("Zoho-oauthtoken ") or token not in self.tokens:
                return 401, {"code": "INVALID_TOKEN", "details": {},
                             "message": "invalid oauth token", "status": "error"}
            for queued in self.errors:
                queued[1] -= 1
                if queued[1] <= 0:
                    self.errors.remove(queued)
                return queued[0], {"code": "INTERNAL_ERROR", "details": {},
                                   "message": "(fake) error", "status": "error"}
        records = body.get("data") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            return 400, {"code": "INVALID_DATA", "details": {}, "message": "(fake) no data",
                         "status": "error"}
        answers = []
        for record in records:
            if not isinstance(record, dict) or not record.get("Last_Name"):
                answers.append({"code": "MANDATORY_NOT_FOUND", "details": {
                    "api_name": "Last_Name"}, "message": "required field not found",
                    "status": "error"})
                continue
            lead_id = str(4_876_000_000_000_000_000 + next(self._ids))
            with self._lock:
                self.leads[lead_id] = record
            answers.append({"code": "SUCCESS", "details": {"id": lead_id},
                            "message": "record added", "status": "success"})
        ok = all(a["code"] == "SUCCESS" for a in answers)
        return (201 if ok else 400), {"data": answers}

    def _control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        body = body if isinstance(body, dict) else {}
        if path == "/_fake/requests":
            with self._lock:
                return 200, {"data": [c.as_json() for c in self.calls
                                      if not c.path.startswith("/_fake/")]}
        actions = {"/_fake/reset": self.reset, "/_fake/expire": self.expire_tokens,
                   "/_fake/revoke": lambda: self.revoke(body.get("refresh_token")),
                   "/_fake/errors": lambda: self.fail(int(body.get("status", 503)),
                                                      int(body.get("times", 1)))}
        if method == "POST" and path in actions:
            actions[path]()
            return 200, {"success": True}
        return 404, {"error": "unknown control path"}

    def transport(self) -> httpx.MockTransport:
        """An httpx.MockTransport answering with this fake (tests: no socket at all)."""
        return mock_transport(self)


class FakeZohoServer(FakeServer[FakeZoho]):
    """The fake on a real socket; its url is the ZOHO_ACCOUNTS_URL and ZOHO_API_URL to use."""

    def __init__(self, port: int = 0, fake: FakeZoho | None = None) -> None:
        super().__init__(fake or FakeZoho(), port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument("--expires-in", type=int, default=3600,
                        help="seconds an access token is said to last")
    args = parser.parse_args()
    server = FakeZohoServer(args.port, FakeZoho(expires_in=args.expires_in))
    print(f"Fake Zoho on {server.url} (ZOHO_ACCOUNTS_URL and ZOHO_API_URL={server.url})",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
