"""A small HTTP/1.1 load generator: keep-alive connections, pre-built requests, latencies."""
from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Result:
    """Latencies (seconds) and statuses of one run."""

    latencies: list[float]
    statuses: dict[int, int]
    seconds: float

    def merged(self, other: Result | None) -> Result:
        """This run and an earlier one, as one."""
        if other is None:
            return self
        statuses = {k: self.statuses.get(k, 0) + other.statuses.get(k, 0)
                    for k in {*self.statuses, *other.statuses}}
        return Result(other.latencies + self.latencies, statuses, other.seconds + self.seconds)

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    def summary(self) -> str:
        """One line: throughput, p50/p95/p99, statuses."""
        return (f"{len(self.latencies) / self.seconds:8.1f} req/s  "
                f"p50 {self.percentile(50):6.1f} ms  p95 {self.percentile(95):6.1f} ms  "
                f"p99 {self.percentile(99):6.1f} ms  "
                f"mean {statistics.mean(self.latencies) * 1000:6.1f} ms  "
                f"statuses {dict(sorted(self.statuses.items()))}")


def build_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """The raw bytes of one keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def _run(targets: dict[str, tuple[int, Sequence[bytes]]], concurrency: int
               ) -> dict[str, Result]:
    queues = {label: deque(requests) for label, (_, requests) in targets.items()}
    latencies: dict[str, list[float]] = {label: [] for label in targets}
    statuses: dict[str, dict[int, int]] = {label: {} for label in targets}

    async def worker(turn: int) -> None:
        # One connection per target; the worker takes the targets in turn, so every target
        # meets the same moments of the machine. Each is opened just before its first request,
        # as clients do: gunicorn's gthread gives a new connection a thread that waits up to
        # 5 s for its first bytes, which a connection opened ahead would hold idle.
        connections: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        labels = list(targets)
        try:
            while any(queues.values()):
                label = labels[turn % len(labels)]
                turn += 1
                if not queues[label]:
                    continue
                if label not in connections:
                    connections[label] = await asyncio.open_connection(
                        "127.0.0.1", targets[label][0])
                reader, writer = connections[label]
                started = time.perf_counter()
                writer.write(queues[label].popleft())
                status = await _read_response(reader)
                latencies[label].append(time.perf_counter() - started)
                statuses[label][status] = statuses[label].get(status, 0) + 1
        finally:
            for _, writer in connections.values():
                writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(turn) for turn in range(concurrency)))
    seconds = time.perf_counter() - started
    return {label: Result(latencies[label], statuses[label], seconds) for label in targets}


def run(port: int, requests: Sequence[bytes], concurrency: int) -> Result:
    """Send every request over `concurrency` keep-alive connections; bounded by the list."""
    return asyncio.run(_run({"": (port, requests)}, concurrency))[""]


def run_interleaved(targets: dict[str, tuple[int, Sequence[bytes]]], concurrency: int
                    ) -> dict[str, Result]:
    """Per label, the latencies of its (port, requests), each of the `concurrency` clients
    sending to the targets in turn: side by side at the same moments, not one after the other."""
    return asyncio.run(_run(targets, concurrency))


async def _send_paced(port: int, planned: Sequence[tuple[float, str, bytes]], connections: int
                      ) -> list[tuple[float, str, int, float]]:
    """Open loop: each request leaves at its planned moment whatever the answers before it;
    (sent at, wa_id, status, answer seconds) per request."""
    queue = list(reversed(planned))
    sent: list[tuple[float, str, int, float]] = []
    began = time.monotonic()

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                offset, wa_id, request = queue.pop()
                await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
                at, started = time.time(), time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if length:
                    await reader.readexactly(length)
                sent.append((at, wa_id, int(head.split(b" ", 2)[1]),
                             time.perf_counter() - started))
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return sent


def run_paced(port: int, planned: Sequence[tuple[float, str, bytes]], connections: int
              ) -> list[tuple[float, str, int, float]]:
    """Send each (offset seconds, key, request) at its moment over `connections` keep-alive
    connections; (sent at wall-clock time, key, status, answer seconds) per request."""
    return asyncio.run(_send_paced(port, planned, connections))
