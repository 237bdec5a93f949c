"""The HTTP side the fakes in bench/ share: a fake only answers `handle()`, served here on a socket
(keep-alive HTTP/1.1, quiet) or as an httpx.MockTransport, in JSON or as `Binary`.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

if TYPE_CHECKING:
    import httpx


class Fake(Protocol):
    """A fake third party: one request in, (HTTP status, JSON body or Binary) out."""

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, Any]:
        """Answer one request; `headers` are keyed in lower case."""
        ...


FakeT = TypeVar("FakeT", bound=Fake)


@dataclass(frozen=True)
class Binary:
    """A non-JSON answer (a media file), with any headers of its own (a redirect's Location)."""

    content: bytes
    mime_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


def _encoded(answer: Any) -> tuple[bytes, dict[str, str]]:
    """An answer's bytes and headers."""
    if isinstance(answer, Binary):
        return answer.content, {"Content-Type": answer.mime_type, **answer.headers}
    return json.dumps(answer).encode(), {"Content-Type": "application/json"}


def mock_transport(fake: Fake) -> httpx.MockTransport:
    """An httpx.MockTransport answering with `fake` (tests: no socket at all)."""
    import httpx  # here: the fakes' servers run without httpx loaded

    def answer(request: httpx.Request) -> httpx.Response:
        status, body = fake.handle(request.method, request.url.raw_path.decode("ascii"),
                                   {k.lower(): v for k, v in request.headers.items()},
                                   request.read())
        content, headers = _encoded(body)
        return httpx.Response(status, content=content, headers=headers)

    return httpx.MockTransport(answer)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like the real providers
    disable_nagle_algorithm = True  # else each answer waits for the client's delayed ACK

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, answer = self.server.fake.handle(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
        content, headers = _encoded(answer)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Quiet: the fakes record their calls."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: Fake) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class FakeServer(Generic[FakeT]):
    """`fake` on 127.0.0.1:`port` (0: any free port); a context manager serves it in a thread."""

    def __init__(self, fake: FakeT, port: int = 0, root: str = "") -> None:
        self.fake = fake
        self._root = root
        self._server = _Server(("127.0.0.1", port), fake)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL the app is given (the host's, then `root`)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self._root}"

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (a fake's main())."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
