"""Campaign sending benchmark: real Celery workers on RabbitMQ against the fake Graph API.

    python bench/campaigns.py                       # 100,000 recipients + 3 small campaigns
    python bench/campaigns.py --scaling 1,2,3       # throughput against worker count
    python bench/campaigns.py --profile             # where a worker's time goes (cProfile)
    python bench/campaigns.py --outcomes 1000       # PostgreSQL's time per send's outcome

A fresh database (--database) is migrated and seeded set-based: one organization with a
--recipients campaign over --numbers numbers, and --small-orgs organizations with a small
campaign each, all started at once. Rates, per-second windows and fairness come from the fake
Graph API's own timestamps; worker memory from /proc. Prints the figures for docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from generate import recreate_database  # noqa: E402

QUEUE = "bench-campaigns"
APP = "wbcrm_bench_app"  # workers and the queueing serve as this role: row-level security on


def django_setup(database: str) -> None:
    """Configure Django on the benchmark database."""
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-key")  # DEBUG off: crm.settings needs a key
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI=")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
    os.environ.setdefault("CAMPAIGN_REDIS_PREFIX", f"wbcrm-bench:{os.getpid()}")
    import django

    django.setup()


def seed(recipients: int, numbers: int, rate: int, small_orgs: int, small: int
         ) -> list[tuple[Any, Any]]:
    """Organizations, numbers, customers and campaigns; [(organization, campaign), ...]."""
    from django.db import connection

    from crm.models import Campaign
    from tenancy.context import tenant_context
    from tests.factories import (
        CampaignFactory,
        OrganizationFactory,
        UserFactory,
        WhatsAppNumberFactory,
    )

    runs = []
    for index, (audience, count) in enumerate([(recipients, numbers)] + [(small, 1)] * small_orgs):
        org = OrganizationFactory(code=f"bench-{index}")
        with tenant_context(org):
            admin = UserFactory(org_admin=True, username=f"bench-admin-{index}")
            WhatsAppNumberFactory.create_batch(count, messages_per_second=rate)
            campaign = CampaignFactory(created_by=admin, type=Campaign.Type.TEXT,
                                       content={"body": "Our new offers are here!"})
        # Set-based, as a real audience import would be (the ORM would take minutes).
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO customers (id, organization_id, wa_id, customer_status, created_at) "
                "SELECT gen_random_uuid(), %s, (%s + i)::text, 'pending', now() "
                "FROM generate_series(1, %s) i", [org.pk, 10**11 * (index + 1), audience])
            cursor.execute(
                "INSERT INTO campaign_customers (campaign_id, customer_id, organization_id) "
                "SELECT %s, id, organization_id FROM customers WHERE organization_id = %s",
                [campaign.pk, org.pk])
            cursor.execute("ANALYZE")
        runs.append((org, campaign))
    return runs


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child process with its output in `log`."""
    handle = log.open("wb")
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=handle,
                            stderr=subprocess.STDOUT)


def start_workers(count: int, concurrency: int, graph_url: str, profile: bool
                  ) -> list[subprocess.Popen[bytes]]:
    """`celery -A crm worker` processes on the benchmark queue."""
    workers = []
    for index in range(count):
        pool = ["-P", "solo"] if profile else ["-P", "threads", "-c", str(concurrency)]
        prefix = ([sys.executable, "-m", "cProfile", "-o", "/tmp/bench-campaigns.prof"]
                  if profile else [sys.executable])
        workers.append(start_process(
            [*prefix, "-m", "celery", "-A", "crm", "worker", *pool,
             "-n", f"bench{index}@%h", "-l", "warning", "--without-gossip", "--without-mingle"],
            {"WHATSAPP_GRAPH_URL": graph_url, "LOG_LEVEL": "WARNING",
             "DATABASE_URL": os.environ["DATABASE_URL"].replace("//postgres@", f"//{APP}@")},
            Path(f"/tmp/bench-campaigns-worker{index}.log")))
    return workers


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fake_calls(graph_url: str) -> list[dict[str, Any]]:
    """Every successful send the fake received, with its own timestamps."""
    with urllib.request.urlopen(f"{graph_url}/_fake/requests", timeout=120) as answer:
        calls = json.load(answer)["data"]
    return [c for c in calls if c["method"] == "POST" and c["status"] == 200
            and isinstance(c["body"], dict) and "to" in c["body"]]


def most_in_one_second(times: list[float]) -> tuple[int, list[int]]:
    """(the most sends in any one-second window, the count of the window ending at each send)."""
    times = sorted(times)
    most, start, counts = 0, 0, []
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        counts.append(end - start + 1)
        most = max(most, end - start + 1)
    return most, counts


def analyse(calls: list[dict[str, Any]], numbers: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """Per number and per organization figures from the fake's timestamps."""
    by_number: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        by_number[call["path"].split("/")[2]].append(call["received_at"])
    report: dict[str, Any] = {"numbers": {}, "orgs": defaultdict(list)}
    for number, times in sorted(by_number.items()):
        org, limit = numbers[number]
        times.sort()
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        most, counts = most_in_one_second(times)
        # Sends in each whole second of the number's run, first and last (partial) ones left out.
        seconds = Counter(int(t - times[0]) for t in times)
        per_second = sorted(seconds[s] for s in range(1, max(seconds)))
        report["numbers"][number] = {
            "org": org, "limit": limit, "sends": len(times),
            "rate": round((len(times) - 1) / span, 1) if span else None,
            "median_1s": per_second[len(per_second) // 2] if per_second else None,
            "max_in_1s": most, "over_limit_sends": sum(1 for c in counts if c > limit),
        }
        report["orgs"][org].extend(times)
    sends = sorted(c["received_at"] for c in calls)
    report["total"] = {"sends": len(sends), "seconds": round(sends[-1] - sends[0], 1),
                       "per_second": round(len(sends) / (sends[-1] - sends[0]), 1)}
    fairness = {}
    for org, times in report.pop("orgs").items():
        seconds = Counter(int(t - sends[0]) for t in times)
        first, last = min(seconds), max(seconds)
        idle = [s for s in range(first, last + 1) if s not in seconds]
        fairness[org] = {"first_s": first, "last_s": last, "sends": len(times),
                         "seconds_without_a_send": len(idle)}
    report["fairness"] = fairness
    return report


def run(args: argparse.Namespace, workers_count: int, recipients: int, small_orgs: int,
        profile: bool = False) -> dict[str, Any]:
    """One benchmark round on a fresh database; returns its figures."""
    from django.db import connections

    from crm.campaigns import ratelimit, services
    from crm.campaigns.progress import progress
    from crm.celery import app
    from crm.models import Job, WhatsAppNumber
    from tenancy.context import tenant_context, unscoped

    connections["default"].settings_dict["USER"] = "postgres"  # the owner builds the round
    connections.close_all()
    recreate_database(args.database, "127.0.0.1", "postgres")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    subprocess.run([sys.executable, "manage.py", "tenancy_roles", "--owner", "postgres",
                    "--app", APP, "-v", "0"], cwd=ROOT, check=True)
    with app.connection_for_write() as conn:
        # Kept (a producer caches its declared queues) but emptied of an earlier round's tasks.
        bench_queue(conn).declare()
        bench_queue(conn).purge()
    runs = seed(recipients, args.numbers, args.rate, small_orgs, args.small)
    with unscoped():  # the report maps every organization's numbers
        numbers = {n.phone_number_id: (n.organization.code, n.messages_per_second)
                   for n in WhatsAppNumber.objects.select_related("organization")}
    # From here on as the application serves: a role that row-level security applies to.
    connections["default"].settings_dict["USER"] = APP
    connections.close_all()
    fake = start_process([sys.executable, "bench/fake_graph.py", "--port", str(args.port)], {},
                         Path("/tmp/bench-campaigns-fake.log"))
    graph_url = f"http://127.0.0.1:{args.port}"
    workers = [] if args.queue_only else start_workers(
        workers_count, args.concurrency, graph_url, profile)
    time.sleep(0 if args.queue_only else args.warmup)
    figures: dict[str, Any] = {"workers": workers_count, "recipients": recipients}
    jobs = []
    try:
        for index, (org, campaign) in enumerate(runs):
            started = time.monotonic()
            with tenant_context(org):
                jobs.append((org, services.run_campaign(campaign)))
            if index == 0:
                figures["queue_seconds"] = round(time.monotonic() - started, 2)
                print(f"queued {recipients:,} recipients in {figures['queue_seconds']} s",
                      flush=True)
                if args.queue_only:
                    return figures
        memory: dict[int, list[float]] = defaultdict(list)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            time.sleep(2)
            for worker in workers:
                memory[worker.pid].append(rss_mb(worker.pid))
            states = []
            for org, job in jobs:
                with tenant_context(org):
                    states.append(Job.objects.get(pk=job.pk).state)
            if all(state != Job.State.RUNNING for state in states):
                break
        with tenant_context(jobs[0][0]):
            figures["big_job"] = progress(Job.objects.get(pk=jobs[0][1].pk))["counts"]
        figures["memory_mb"] = {
            f"worker{i}": [round(m[0]), round(max(m)), round(m[-1])]
            for i, m in enumerate(memory.values())
        }
        figures.update(analyse(fake_calls(graph_url), numbers))
    finally:
        if args.queue_only:
            with tenant_context(jobs[0][0]):
                ratelimit.set_stopped(jobs[0][1].pk, True)
            with app.connection_for_write() as conn:
                bench_queue(conn).purge()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
        fake.terminate()
    return figures


def bench_queue(conn: Any) -> Any:
    """The benchmark's queue, declared as Celery declares its default queue."""
    from kombu import Exchange, Queue

    return Queue(QUEUE, Exchange(QUEUE, type="direct"), routing_key=QUEUE)(conn.default_channel)


def print_profile(path: str) -> None:
    """Where the worker's time went, by library."""
    stats = pstats.Stats(path)
    areas: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():
        total += tottime
        for area, marker in (("PostgreSQL driver", "psycopg2"), ("Django ORM", "django/db"),
                             ("tenant layer", "tenancy/"), ("HTTP (httpx)", "http"),
                             ("Redis", "redis"), ("Celery/kombu/amqp", "celery"),
                             ("Celery/kombu/amqp", "kombu"), ("Celery/kombu/amqp", "amqp"),
                             ("pydantic", "pydantic"), ("campaign code", "crm/"),
                             ("sleeping (rate pacing)", "time.sleep")):
            if marker in filename:
                areas[area] += tottime
                break
        else:
            areas["other"] += tottime
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"  {area:<26} {seconds:8.1f} s  {100 * seconds / total:5.1f} %")
    stats.sort_stats("tottime").print_stats(12)


def outcomes(args: argparse.Namespace) -> None:
    """Send `args.outcomes` messages in this process (fake Graph API in memory, no pacing) and
    print what PostgreSQL spends on each outcome statement: EXPLAIN ANALYZE's planning,
    execution and trigger times, and the roll-up trigger functions' time per call."""
    from django.db import connection, connections

    from bench.fake_graph import FakeGraph
    from crm.campaigns.sending import Sender, claim
    from crm.models import Job, Organization, WhatsAppNumber
    from crm.whatsapp.client import use_transport
    from tenancy.context import tenant_context, unscoped

    args.queue_only = True  # no worker sends: this process does
    run(args, 0, args.outcomes, 0)
    connections["default"].settings_dict["USER"] = "postgres"  # the owner turns timings on
    connections.close_all()
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER DATABASE {args.database} SET track_functions = 'pl'")
    connections["default"].settings_dict["USER"] = APP
    connections.close_all()
    with unscoped():
        org = Organization.objects.get(code="bench-0")
    plans: list[dict[str, Any]] = []
    statements = 0

    def explained(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        if not sql.startswith("WITH ") or "UPDATE job_status SET status" not in sql:
            return execute(sql, params, many, context)
        started = time.perf_counter()
        execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params, many, context)
        plans.append({**context["cursor"].fetchone()[0][0],
                      "Round Trip": 1000 * (time.perf_counter() - started)})
        return None

    with tenant_context(org), use_transport(FakeGraph().transport()):
        job = Job.objects.get(state=Job.State.RUNNING)
        senders = [Sender(job, number) for number in WhatsAppNumber.objects.all()]
        with connection.execute_wrapper(explained):
            while rows := [(s, row) for s in senders for row in claim(job, s.number, 20)]:
                for sender, row in rows:
                    sender.send(row, sender.content_for(row))
    connections.close_all()  # a session's function timings reach the view once it has ended
    for _ in range(20):
        time.sleep(0.5)
        with connection.cursor() as cursor:  # the database is new: every call is this run's
            cursor.execute("SELECT funcname, calls, total_time FROM pg_stat_user_functions")
            functions = cursor.fetchall()
        connections.close_all()
        if functions:
            break
    sends = len(plans)

    def per_send(values: Any) -> str:
        return f"{sum(values) / sends:.3f} ms"

    print(f"{sends} sends, {statements} statements ({statements / sends:.2f} per send)")
    print(f"outcome statement: planning {per_send(p['Planning Time'] for p in plans)}, "
          f"execution {per_send(p['Execution Time'] for p in plans)}, of which triggers "
          f"{per_send(t['Time'] for p in plans for t in p.get('Triggers', []))}; "
          f"round trip {per_send(p['Round Trip'] for p in plans)}")
    for name, calls, total in sorted(functions):
        print(f"  {name}: {calls} calls, {total / calls:.3f} ms per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="wbcrm_bench_campaigns")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=120, help="messages_per_second per number")
    parser.add_argument("--small-orgs", type=int, default=3)
    parser.add_argument("--small", type=int, default=2_000, help="recipients per small campaign")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--scaling", help="worker counts, e.g. 1,2,3: throughput per count")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--outcomes", type=int, help="sends whose outcome statements to time")
    parser.add_argument("--queue-only", action="store_true",
                        help="time queueing the large campaign, send nothing")
    args = parser.parse_args()
    django_setup(args.database)
    if args.outcomes:
        outcomes(args)
        return
    if args.profile:
        figures = run(args, 1, args.recipients, 0, profile=True)
        print(json.dumps(figures["total"]))
        print_profile("/tmp/bench-campaigns.prof")
        return
    if args.scaling:
        for count in map(int, args.scaling.split(",")):
            figures = run(args, count, args.recipients, 0)
            print(f"{count} worker(s): {figures['total']}", flush=True)
        return
    print(json.dumps(run(args, args.workers, args.recipients, args.small_orgs), indent=1,
                     default=str))


if __name__ == "__main__":
    main()
