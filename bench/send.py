"""Send benchmark: POST /api/v1/customers/<id>/send/ against the fake Graph API (gunicorn, PG).

    python bench/send.py [--requests 1000] [--concurrency 1,8] [--graph-latency-ms 0]

1. A fresh database (wbcrm_bench_send): migrated, one organization with an AGENT's token, a
   number, and customers who wrote a minute ago (the 24-hour window is open).
2. The fake Graph API in its own process (bench/fake_graph.py), the app under gunicorn pointing
   at it (WHATSAPP_GRAPH_URL).
3. The bare Graph round trip: the same send body POSTed straight to the fake.
4. Text sends through the API at each concurrency: latency p50/p95/p99 as the client sees it,
   next to a customer detail GET on the same server (the same stack without a send),
   the Graph call as the app timed it (whatsapp_api_logs.duration_ms), the time spent inside
   the fake (its own clock), and the port's cost per send: the API latency minus the time
   inside the fake ("Meta"), matched per request by wamid.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import recreate_database  # noqa: E402
from request_path import ROOT, Server, free_port, manage, sql  # noqa: E402

DATABASE = "wbcrm_bench_send"
PHONE_NUMBER_ID = "109000000000777"
SETUP = """
import json
from datetime import timedelta
from django.utils import timezone
from crm.models import ApiToken, Customer, Message, Organization, Role, User, WhatsAppNumber
from tenancy.context import tenant_context, unscoped
with unscoped():  # creating the tenant itself is platform work
    org = Organization.objects.create(name="Bench", code="bench", slug="bench")
    role, _ = Role.objects.get_or_create(name="AGENT", defaults={"display_name": "Agent"})
with tenant_context(org):
    agent = User.objects.create_user("bench_agent", "bench-password-1", role=role,
                                     first_name="B", last_name="A", phone_number="1",
                                     email="bench@example.com")
    WhatsAppNumber.objects.create(phone_number_id="%(pnid)s", display_number="+1 555 000 0777",
                                  access_token="bench-access-token", created_at=timezone.now())
    ids = []
    for i in range(%(customers)d):
        customer = Customer.objects.create(wa_id=f"91990000{i:04d}", created_at=timezone.now())
        Message.objects.create(customer=customer, message_id=f"wamid.bench.in.{i}",
                               from_wa_id=customer.wa_id, to_wa_id="15550000777", type="text",
                               body="hello", sender_type="customer",
                               timestamp=timezone.now() - timedelta(minutes=1))
        ids.append(str(customer.pk))
    _, key = ApiToken.issue(agent)
print(json.dumps({"token": key, "customers": ids}))
"""


def percentiles(values: list[float]) -> str:
    """p50/p95/p99 of milliseconds."""
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    return (f"p50 {at(50):7.2f}  p95 {at(95):7.2f}  p99 {at(99):7.2f}  "
            f"mean {statistics.mean(ordered):7.2f} ms")


def fake_calls(graph_url: str) -> dict[str, dict]:
    """The sends the fake answered, by the wamid it gave (then forgets them)."""
    calls = httpx.get(f"{graph_url}/_fake/requests").json()["data"]
    httpx.post(f"{graph_url}/_fake/reset")
    return {c["answer"]["messages"][0]["id"]: c for c in calls
            if c["answer"] and "messages" in c["answer"]}


def bare_round_trip(graph_url: str, count: int) -> list[float]:
    """Milliseconds of a send POSTed straight to the fake over one keep-alive connection."""
    body = {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "919900000000", "type": "text", "text": {"body": "Your order is ready"}}
    latencies = []
    with httpx.Client(headers={"Authorization": "Bearer x"}) as client:
        for _ in range(count):
            started = time.perf_counter()
            client.post(f"{graph_url}/v21.0/{PHONE_NUMBER_ID}/messages", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
    httpx.post(f"{graph_url}/_fake/reset")
    return latencies


def timed(port: int, token: str, count: int, concurrency: int,
          call: Callable[[httpx.Client, int], httpx.Response]) -> list[tuple[float, Any]]:
    """(milliseconds, JSON answer) of `count` calls over `concurrency` keep-alive clients."""
    per_worker = [list(range(w, count, concurrency)) for w in range(concurrency)]

    def worker(indexes: list[int]) -> list[tuple[float, Any]]:
        done = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Token {token}"}) as client:
            for i in indexes:
                started = time.perf_counter()
                response = call(client, i)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"answered {response.status_code}: {response.text}")
                done.append((elapsed, response.json()))
        return done

    with ThreadPoolExecutor(concurrency) as pool:
        return [item for chunk in pool.map(worker, per_worker) for item in chunk]


def sends(port: int, setup: dict, count: int, concurrency: int) -> list[tuple[float, str]]:
    """(milliseconds, wamid) of `count` text sends through the API."""
    customers = setup["customers"]

    def send(client: httpx.Client, i: int) -> httpx.Response:
        return client.post(f"/api/v1/customers/{customers[i % len(customers)]}/send/",
                           json={"type": "text", "text": {"body": f"Your order {i} is ready"}})

    return [(ms, answer["message_id"])
            for ms, answer in timed(port, setup["token"], count, concurrency, send)]


def reads(port: int, setup: dict, count: int, concurrency: int) -> list[float]:
    """Milliseconds of `count` customer detail reads: the same stack without a send."""
    customers = setup["customers"]

    def read(client: httpx.Client, i: int) -> httpx.Response:
        return client.get(f"/api/v1/customers/{customers[i % len(customers)]}/")

    return [ms for ms, _ in timed(port, setup["token"], count, concurrency, read)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--graph-latency-ms", type=float, default=0.0,
                        help="added by the fake to every answer (Meta's own time)")
    args = parser.parse_args()
    recreate_database(DATABASE, "127.0.0.1", "postgres")
    manage(DATABASE, "migrate", "--no-input")
    setup = json.loads(manage(DATABASE, "shell", "-c", SETUP % {
        "pnid": PHONE_NUMBER_ID, "customers": args.customers}).strip().splitlines()[-1])
    fake_port = free_port()
    graph_url = f"http://127.0.0.1:{fake_port}"
    fake = subprocess.Popen([sys.executable, "bench/fake_graph.py", "--port", str(fake_port),
                             "--latency-ms", str(args.graph_latency_ms)], cwd=ROOT,
                            stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                httpx.get(f"{graph_url}/_fake/requests")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        print(f"Fake Graph API latency setting: {args.graph_latency_ms} ms; "
              f"{args.requests} sends per row\n")
        print(f"{'bare Graph round trip (client -> fake)':<44} "
              f"{percentiles(bare_round_trip(graph_url, args.requests))}")
        env = {"WHATSAPP_GRAPH_URL": graph_url, "WHATSAPP_GRAPH_RETRIES": "0"}
        with Server(DATABASE, env) as server:
            sends(server.port, setup, 50, 2)  # warm up
            fake_calls(graph_url)
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                report(server.port, setup, graph_url, args.requests, concurrency)
    finally:
        fake.terminate()
        fake.wait(timeout=10)


def report(port: int, setup: dict, graph_url: str, count: int, concurrency: int) -> None:
    """One concurrency's rows: API latency, the Graph call, time in the fake, the port's cost."""
    started = time.perf_counter()
    done = sends(port, setup, count, concurrency)
    seconds = time.perf_counter() - started
    detail = reads(port, setup, count, concurrency)
    inside = fake_calls(graph_url)
    logged = dict(sql(DATABASE, "SELECT whatsapp_message_id, duration_ms FROM whatsapp_api_logs "
                      "WHERE whatsapp_message_id = ANY(%s)", ([w for _, w in done],)))
    in_fake = {w: (inside[w]["answered_at"] - inside[w]["received_at"]) * 1000 for _, w in done}
    print(f"\nconcurrency {concurrency}: {count / seconds:.0f} sends/s")
    print(f"{'  send API latency (client)':<44} {percentiles([ms for ms, _ in done])}")
    print(f"{'  Graph call as the app timed it (api log)':<44} "
          f"{percentiles([float(v) for v in logged.values()])}")
    print(f"{'  inside the fake Graph API':<44} {percentiles(list(in_fake.values()))}")
    print(f"{'  port cost = API latency - inside the fake':<44} "
          f"{percentiles([ms - in_fake[w] for ms, w in done])}")
    print(f"{'  reference: GET customer detail':<44} {percentiles(detail)}")


if __name__ == "__main__":
    main()
