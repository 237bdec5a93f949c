"""Request-path benchmark against gunicorn, the way production runs (DEBUG off, PostgreSQL).

    python bench/generate.py --scale large --database wbcrm_bench_large     # once
    python bench/request_path.py --template wbcrm_bench_large --org org0

1. "large": a migrated copy of the template (200 organizations); "small": the same database with
   every other organization's rows deleted, so one organization's rows are identical in both.
2. API list and detail latency (p50/p95/p99) for messages and customers in each.
3. Webhook ingest: signed single-message POSTs at concurrency 16, into the large database.
4. In process: queries per list request, the query plans, and the tenant layer's own cost.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import Result, build_request, run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-app-secret"
TENANT_TABLES_CHILDREN_FIRST = [
    "api_tokens", "job_status", "order_items", "payments", "payment_transactions",
    "address_collection_sessions", "referrer_tracking", "messages", "campaign_logs",
    "whatsapp_api_logs", "campaign_recipients", "jobs", "campaigns", "leads", "flow_logs",
    "zoho_payload_logs", "number_flow_configs", "whatsapp_numbers", "quick_replies", "orders",
    "customer_addresses", "customers", "users",
]


def sql(db: str, statement: str, params: tuple = (), fetch: bool = True) -> list[tuple]:
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=db)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall() if fetch and cursor.description else []
    connection.close()
    return rows


def env_for(db: str, user: str = "postgres") -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"postgres://{user}@127.0.0.1:5432/{db}",
            "DJANGO_SETTINGS_MODULE": "crm.settings", "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-key"),
            "FIELD_ENCRYPTION_KEY": os.environ.get(
                "FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI="),
            "ALLOWED_HOSTS": "127.0.0.1", "WHATSAPP_APP_SECRET": SECRET,
            "CONN_MAX_AGE": "600", "LOG_LEVEL": "ERROR"}


def manage(db: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env_for(db),
                          capture_output=True, text=True, check=True)
    return done.stdout


def inprocess(db: str, *args: str, user: str = "postgres", env: dict[str, str] | None = None
              ) -> str:
    done = subprocess.run([sys.executable, "bench/inprocess.py", *args], cwd=ROOT,
                          env={**env_for(db, user), **(env or {})}, capture_output=True,
                          text=True, check=True)
    return done.stdout


def prepare(template: str, org: str) -> tuple[str, str, str]:
    """(large db, small db, organization id): migrated copies, small keeping only `org`."""
    large, small = f"{template}_req_large", f"{template}_req_small"
    sql("postgres", f'DROP DATABASE IF EXISTS "{large}" WITH (FORCE)', fetch=False)
    sql("postgres", f'CREATE DATABASE "{large}" TEMPLATE "{template}"', fetch=False)
    started = time.monotonic()
    manage(large, "migrate", "--fake-initial", "--no-input")
    print(f"migrated {large} in {time.monotonic() - started:.0f}s")
    sql(large, "VACUUM ANALYZE", fetch=False)
    sql("postgres", f'DROP DATABASE IF EXISTS "{small}" WITH (FORCE)', fetch=False)
    sql("postgres", f'CREATE DATABASE "{small}" TEMPLATE "{large}"', fetch=False)
    org_id = sql(small, "SELECT id::text FROM organizations WHERE code = %s", (org,))[0][0]
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=small)
    with connection, connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # bulk delete, keys aside
        for table in TENANT_TABLES_CHILDREN_FIRST:
            cursor.execute(f"DELETE FROM {table} WHERE organization_id IS DISTINCT FROM %s",
                           (org_id,))
        cursor.execute("DELETE FROM organizations WHERE id <> %s", (org_id,))
    connection.close()
    sql(small, "VACUUM ANALYZE", fetch=False)
    return large, small, org_id


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


WORKERS = os.environ.get("BENCH_WORKERS", "2")
THREADS = os.environ.get("BENCH_THREADS", "4")


class Server:
    """gunicorn, gthread workers (they keep connections alive): BENCH_WORKERS x BENCH_THREADS."""

    def __init__(
        self, db: str, env: dict[str, str] | None = None, user: str = "postgres",
        workers: str = WORKERS,
    ) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "crm.wsgi:application", "-k", "gthread",
             "-w", workers, "--threads", THREADS, "-b", f"127.0.0.1:{self.port}",
             "--keep-alive", "30", "--reuse-port"],
            cwd=ROOT, env={**env_for(db, user), **(env or {})}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def api_cases(db: str, org_id: str, token: str, count: int) -> dict[str, list[bytes]]:
    """Per case, `count` requests: list and detail of messages and customers."""
    auth = {"Authorization": f"Token {token}"}
    messages = [r[0] for r in sql(db, "SELECT id FROM messages WHERE organization_id = %s "
                                  "ORDER BY id LIMIT 500", (org_id,))]
    customers = [r[0] for r in sql(db, "SELECT id::text FROM customers WHERE organization_id = "
                                   "%s ORDER BY id LIMIT 500", (org_id,))]
    paths = {
        "messages list": ["/api/v1/messages/?page_size=50"],
        "messages detail": [f"/api/v1/messages/{pk}/" for pk in messages],
        "customers list": ["/api/v1/customers/?page_size=50"],
        "customers detail": [f"/api/v1/customers/{pk}/" for pk in customers],
    }
    chooser = random.Random(7)  # the same requests for both databases
    return {case: [build_request("GET", chooser.choice(options), auth) for _ in range(count)]
            for case, options in paths.items()}


def webhook(db: str, org_id: str, count: int) -> str:
    """Signed single-message deliveries to the organization's number, concurrency 16."""
    number = sql(db, "SELECT phone_number_id, display_number FROM whatsapp_numbers "
                 "WHERE organization_id = %s LIMIT 1", (org_id,))[0][0]
    wa_ids = [r[0] for r in sql(db, "SELECT wa_id FROM customers WHERE organization_id = %s "
                                "LIMIT 1000", (org_id,))]
    before = sql(db, "SELECT count(*) FROM messages")[0][0]
    run_id = int(time.time())
    requests = []
    for i in range(count):
        wa_id = wa_ids[i % len(wa_ids)] if i % 10 else f"9177{run_id % 100000:05d}{i:06d}"
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": number},
                "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
                "messages": [{"from": wa_id, "id": f"wamid.bench.{run_id}.{i}",
                              "timestamp": str(run_id), "type": "text",
                              "text": {"body": f"hello {i}"}}]}}]}]}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        requests.append(build_request("POST", "/webhooks/whatsapp/", {
            "Content-Type": "application/json", "X-Hub-Signature-256": signature}, body))
    with Server(db) as server:
        run(server.port, requests[:200], 16)  # warm-up (stored too)
        result = run(server.port, requests[200:], 16)
    stored = sql(db, "SELECT count(*) FROM messages")[0][0] - before
    return f"{result.summary()}\n  stored {stored} of {count} messages"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="wbcrm_bench_large")
    parser.add_argument("--org", default="org0")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=5000)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the databases a previous run prepared")
    parser.add_argument("--parts", default="api,webhook,inprocess")
    args = parser.parse_args()
    if args.reuse:
        large, small = f"{args.template}_req_large", f"{args.template}_req_small"
        org_id = sql(small, "SELECT id::text FROM organizations WHERE code = %s",
                     (args.org,))[0][0]
    else:
        large, small, org_id = prepare(args.template, args.org)
    parts = set(args.parts.split(","))
    if "api" in parts:
        api(large, small, org_id, args)
    if "webhook" in parts:
        print("\nWebhook ingest (large database, concurrency 16)")
        print("  " + webhook(large, org_id, args.webhooks))
    if "inprocess" in parts:
        print("\nQueries per list request (large database)")
        print(inprocess(large, "queries", args.org))
        print("Query plans (large database)")
        print(inprocess(large, "explain", args.org))
        print("Tenant layer cost, in process (large database)")
        print(inprocess(large, "overhead", args.org))


def alternate(
    servers: dict[str, Server], cases: dict[str, dict[str, list[bytes]]], requests: int
) -> dict[tuple[str, str], Result]:
    """Per (case, server label): each case's requests in four rounds alternating between the
    servers, after a warm-up, so that whatever else the machine does weighs on all alike."""
    results: dict[tuple[str, str], Result] = {}
    for case in next(iter(cases.values())):
        for label, server in servers.items():
            run(server.port, cases[label][case][:100], 4)  # warm-up
        step = max(1, requests // 4)
        for start in range(0, requests, step):
            for label, server in servers.items():
                part = run(server.port, cases[label][case][start:start + step], 4)
                results[(case, label)] = part.merged(results.get((case, label)))
    return results


def api(large: str, small: str, org_id: str, args: argparse.Namespace) -> None:
    """API latency in the small and the large database, side by side.

    Both servers run at once and the rounds alternate between them, so that whatever else the
    machine does weighs on both alike.
    """
    dbs = {"small": small, "large": large}
    cases = {label: api_cases(db, org_id, inprocess(db, "setup", args.org).strip(),
                              args.requests)
             for label, db in dbs.items()}
    with Server(small) as small_server, Server(large) as large_server:
        results = alternate({"small": small_server, "large": large_server}, cases, args.requests)
    print(f"\nAPI latency (gunicorn, {WORKERS} workers x {THREADS} threads, concurrency 4)")
    for case in cases["small"]:
        for label in dbs:
            print(f"  {case:<17} {label:<6} {results[(case, label)].summary()}")
        ratio = (results[(case, "large")].percentile(95)
                 / results[(case, "small")].percentile(95))
        print(f"  {case:<17} p95 large / small = {ratio:.2f}")


if __name__ == "__main__":
    main()
