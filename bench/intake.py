"""Webhook intake benchmark: accept first, process after (docs/BENCHMARKS.md, webhook intake).

    python bench/intake.py [--deliveries 3000] [--customers 300]

Against gunicorn (DEBUG off, PostgreSQL, 2 workers x 4 threads) on a fresh migrated database,
the load generator on the same cores, no Celery worker running while accepting:
1. /healthz, then signed single-message deliveries to a few hundred customers: acceptance rate
   against /healthz's, p99 acceptance; then both side by side (latencies at the same moments);
2. the same while another session holds `messages` and `customers` locked (ACCESS EXCLUSIVE):
   every delivery still accepted, the slowest acceptance;
3. then 2 Celery worker processes start and drain what waits: processing rate;
4. deliveries paced at --live-rate while 2 workers process: from the POST to the message
   visible in the inbox.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import build_request, run, run_interleaved, run_paced  # noqa: E402
from request_path import SECRET, ROOT, Server, env_for, manage, sql  # noqa: E402

DB = "wbcrm_bench_intake"
PNID = "106540352242922"
QUEUE = f"bench-intake-{uuid.uuid4().hex[:8]}"
SEED = """
from crm.models import Organization, Verification, WhatsAppNumber
from tenancy.context import tenant_context
from django.utils import timezone
org, _ = Organization.objects.get_or_create(code="bench", defaults={"name": "Bench",
    "slug": "bench", "is_active": True, "created_at": timezone.now(),
    "updated_at": timezone.now()})
with tenant_context(org):
    WhatsAppNumber.objects.get_or_create(phone_number_id="%s", defaults={
        "display_number": "+1 555-000 1111", "access_token": "t", "is_active": True,
        "created_at": timezone.now()})
    # The benchmark's number is vouched for by hand, as platform staff would (no Graph API).
    WhatsAppNumber.objects.update(verification_status=Verification.VERIFIED)
""" % PNID


def prepare() -> None:
    """A fresh database, migrated, with one organization and its verified number."""
    sql("postgres", f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)', fetch=False)
    sql("postgres", f'CREATE DATABASE "{DB}"', fetch=False)
    sql(DB, "CREATE EXTENSION IF NOT EXISTS pg_trgm", fetch=False)
    sql(DB, "CREATE EXTENSION IF NOT EXISTS btree_gin", fetch=False)
    manage(DB, "migrate", "--no-input")
    manage(DB, "shell", "-c", SEED)


def deliveries(count: int, customers: int, tag: str) -> list[bytes]:
    """Signed single-message deliveries, each of `customers` customers in turn."""
    now = int(time.time())
    requests = []
    for i in range(count):
        wa_id = f"91980{i % customers:07d}"
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": PNID},
                "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
                "messages": [{"from": wa_id, "id": f"wamid.{tag}.{i}", "timestamp": str(now),
                              "type": "text", "text": {"body": f"hello {i}"}}]}}]}]}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        requests.append(build_request("POST", "/webhooks/whatsapp/", {
            "Content-Type": "application/json", "X-Hub-Signature-256": signature}, body))
    return requests


def locked(seconds: float, ready: threading.Event) -> None:
    """Hold messages and customers locked as another session would, for `seconds`."""
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=DB)
    with connection, connection.cursor() as cursor:
        cursor.execute("LOCK TABLE messages, customers IN ACCESS EXCLUSIVE MODE")
        ready.set()
        time.sleep(seconds)  # the lock's length is the benchmark's subject
    connection.close()


@contextlib.contextmanager
def celery_workers(count: int) -> Iterator[None]:
    """`count` Celery worker processes (2 threads each) on the benchmark's queue, woken once."""
    env = {**env_for(DB), "CELERY_TASK_DEFAULT_QUEUE": QUEUE}
    processes = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "-P", "threads",
         "-c", "2", "-n", f"bench{n}-{QUEUE}@%h", "-l", "error", "--without-heartbeat",
         "--without-gossip", "--without-mingle"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for n in range(count)]
    try:
        subprocess.run([sys.executable, "-c", "import django; django.setup(); from crm.webhooks."
                        "tasks import process_deliveries; process_deliveries.delay()"],
                       cwd=ROOT, env=env, check=True)
        yield
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def pending() -> int:
    return sql(DB, "SELECT count(*) FROM inbound_deliveries WHERE state = 'pending'")[0][0]


def drain(workers: int) -> str:
    """Start `workers` Celery worker processes; the rate at which they empty the queue."""
    waiting = pending()
    started = time.monotonic()
    first = None
    with celery_workers(workers):
        while True:
            left = pending()
            if first is None and left < waiting:
                first = time.monotonic()
            if left == 0:
                break
            time.sleep(0.05)  # polling the queue's length, not a synchronisation
    row = sql(DB, "SELECT min(processed_at), max(processed_at), count(*) FROM "
                  "inbound_deliveries WHERE state = 'done'")[0]
    seconds = (row[1] - row[0]).total_seconds()
    failed = sql(DB, "SELECT count(*) FROM inbound_deliveries WHERE state = 'failed'")[0][0]
    stored = sql(DB, "SELECT count(*) FROM messages")[0][0]
    return (f"{waiting} waiting deliveries processed by {workers} workers in {seconds:.1f} s "
            f"(first to last processing): {row[2] / seconds:.0f} per second; "
            f"{stored} messages stored, {failed} failed; startup to first "
            f"{(first or started) - started:.1f} s")


def live(port: int, workers: int, rate: float, seconds: float, customers: int) -> str:
    """Paced deliveries while `workers` process: from each POST leaving the client to the
    commit that makes its message visible in the inbox (the delivery's processed_at, set in
    that transaction), on the same machine's clock."""
    planned = [(i / rate, f"wamid.live.{i}", request) for i, request in enumerate(
        deliveries(int(rate * seconds), customers, "live"))]
    with celery_workers(workers):
        time.sleep(3)  # the workers' start-up is not the subject
        sent = run_paced(port, planned, 32)
        deadline = time.monotonic() + 120
        while pending() and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the queue's length, not a synchronisation
    processed = dict(sql(DB, "SELECT body::json #>> '{entry,0,changes,0,value,messages,0,id}', "
                             "extract(epoch FROM processed_at) FROM inbound_deliveries "
                             "WHERE body LIKE '%%wamid.live.%%' AND state = 'done'"))
    lags = sorted(float(processed[wamid]) - at for at, wamid, status, _ in sent
                  if status == 200 and wamid in processed)
    if not lags:
        return "nothing processed"
    span = max(at for at, *_ in sent) - min(at for at, *_ in sent)

    def at(p: float) -> float:
        return lags[min(len(lags) - 1, int(len(lags) * p / 100))] * 1000

    accepted = sorted(answer for *_, status, answer in sent if status == 200)
    return (f"{len(sent)} deliveries at {len(sent) / span:.0f}/s for {span:.0f} s with "
            f"{workers} workers processing: acceptance p95 "
            f"{accepted[int(len(accepted) * 0.95)] * 1000:.0f} ms; POST to visible in the inbox "
            f"p50 {at(50):.0f} ms, p95 {at(95):.0f} ms, p99 {at(99):.0f} ms, max {at(100):.0f} ms;"
            f" {len(lags)} of {len(sent)} visible")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--lock-seconds", type=float, default=8.0)
    parser.add_argument("--live-rate", type=float, default=300.0)
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--drain-only", action="store_true",
                        help="only part 3, on what an earlier run left waiting")
    args = parser.parse_args()
    if args.drain_only:
        print("3. " + drain(2))
        return
    prepare()
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
    healthz = [build_request("GET", "/healthz", {})] * args.deliveries
    posts = deliveries(args.deliveries + 200, args.customers, "a")
    with Server(DB, env={"CELERY_TASK_DEFAULT_QUEUE": QUEUE}) as server:
        run(server.port, posts[:200], 16)  # warm-up (kept too)
        run(server.port, healthz[:200], 16)
        # One after the other (the rate each alone sustains), then side by side (latencies at
        # the same moments: there the two rates are equal by construction).
        alone = {"healthz": run(server.port, healthz, 16),
                 "webhook": run(server.port, posts[200:], 16)}
        print("1. one after the other, concurrency 16:")
        for label, result in alone.items():
            print(f"   {label:8s} {result.summary()}")
        rate = {label: len(r.latencies) / r.seconds for label, r in alone.items()}
        print(f"   acceptance rate / healthz rate = {rate['webhook'] / rate['healthz']:.2f}")
        side = run_interleaved({"healthz": (server.port, healthz),
                                "webhook": (server.port, deliveries(
                                    args.deliveries, args.customers, "b"))}, 16)
        print("   side by side (8 + 8 connections):")
        for label, result in side.items():
            print(f"   {label:8s} {result.summary()}")
        ready = threading.Event()
        holder = threading.Thread(target=locked, args=(args.lock_seconds, ready))
        holder.start()
        ready.wait(30)
        under_lock = run(server.port, deliveries(1000, args.customers, "lock"), 16)
        holder.join()
        print(f"2. while messages and customers are locked ({args.lock_seconds:.0f} s):")
        print(f"   webhook  {under_lock.summary()}")
        print(f"   slowest acceptance {max(under_lock.latencies) * 1000:.0f} ms")
    print("3. " + drain(2))
    with Server(DB, env={"CELERY_TASK_DEFAULT_QUEUE": QUEUE}) as server:
        print("4. " + live(server.port, 2, args.live_rate, args.live_seconds, args.customers))


if __name__ == "__main__":
    main()
