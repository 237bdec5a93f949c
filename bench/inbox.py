"""Inbox benchmark: the conversation list of one organization with 200,000 customers and
3,000,000 messages (figures in docs/BENCHMARKS.md).

    python bench/generate.py --database wbcrm_inbox --scale large --organizations 1
    python bench/inbox.py --database wbcrm_inbox --migrate      # first run: migrate, then measure
    python bench/inbox.py --database wbcrm_inbox --rounds 200   # measure again

Times, in process, each list request the inbox and API make (first page, a deep page by cursor,
each filter, search) through `crm.inbox.queries.conversations`, and the whole request through
Django's test client for `/inbox/list/` and `/api/v1/conversations/`; prints p50/p95/max, the
queries each one ran, and the page query's EXPLAIN ANALYZE.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def migrate(database: str, host: str, user: str) -> None:
    """`manage.py migrate --fake-initial` on the generated (pre-tenancy) database."""
    started = time.monotonic()
    subprocess.run([sys.executable, "manage.py", "migrate", "--fake-initial", "-v0"], cwd=ROOT,
                   check=True, env={**os.environ, "DATABASE_URL": f"postgres://{user}@{host}:5432/"
                                    f"{database}"}, stdout=subprocess.DEVNULL)
    print(f"migrated in {time.monotonic() - started:.1f}s")


def measure(name: str, call: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """Run `call` a few times to warm up, then `rounds` times; print and return (p50, p95)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        call()
    with CaptureQueriesContext(connection) as captured:
        call()
    times, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    # The machine is shared: this process's own CPU time tells the app's cost apart from waits.
    print(f"{name:<28} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  max {times[-1]:7.2f} ms  "
          f"app CPU p50 {statistics.median(cpu):6.2f} ms  queries {len(captured)}  "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    return p50, p95


def prepare(agent_share: int) -> tuple[Any, Any]:
    """The organization with most customers, an agent of it, 1/`agent_share` of its customers
    assigned to that agent, and a business number on every conversation."""
    from django.db import connection

    from crm.models import Customer, Organization, Role, User
    from tenancy.context import tenant_context, unscoped

    with unscoped():  # the benchmark picks the biggest organization across all of them
        organization = max(Organization.objects.all(),
                           key=lambda o: Customer.objects.filter(organization=o).count())
    with tenant_context(organization):
        role, _ = Role.objects.get_or_create(name=Role.AGENT, defaults={"display_name": "Agent"})
        agent = User.objects.filter(role=role).first() or User.objects.create_user(
            "bench_agent", "bench-password", first_name="Bench", last_name="Agent",
            phone_number="900", email="bench@example.com", role=role)
        with connection.cursor() as cursor:  # one set-based update: bench data, not app code
            cursor.execute(
                "UPDATE customers SET user_id = CASE WHEN abs(hashtext(id::text)) %% %s = 0 "
                "THEN %s::uuid END, business_number = coalesce(business_number, '15550001111') "
                "WHERE organization_id = %s",
                [agent_share, str(agent.pk), str(organization.pk)])
            cursor.execute("ANALYZE customers")
    return organization, agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="wbcrm_inbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--migrate", action="store_true", help="migrate the database first")
    args = parser.parse_args()
    if args.migrate:
        migrate(args.database, args.host, args.user)
    os.environ["DATABASE_URL"] = f"postgres://{args.user}@{args.host}:5432/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-key")  # DEBUG off: crm.settings needs a key
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI=")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.test import Client

    from crm.inbox import queries
    from crm.models import Customer, Message
    from tenancy.context import tenant_context

    organization, agent = prepare(agent_share=10)
    with tenant_context(organization):
        print(f"organization {organization.code}: {Customer.objects.count():,} customers, "
              f"{Message.objects.count():,} messages; agent {agent.username}")
        deep = None
        for _ in range(50):  # the cursor of page 51: what "older conversations" pages reach
            deep = queries.conversations(agent, cursor=deep).next_cursor
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("first page (50)", lambda: queries.conversations(agent)),
            ("page 51 by cursor", lambda: queries.conversations(agent, cursor=deep)),
            ("mine", lambda: queries.conversations(agent, queries.Filters(mine=True))),
            ("unassigned", lambda: queries.conversations(agent, queries.Filters(unassigned=True))),
            ("waiting", lambda: queries.conversations(agent, queries.Filters(waiting=True))),
            ("business number", lambda: queries.conversations(
                agent, queries.Filters(number="15550001111"))),
            ("search wa_id 9190000199", lambda: queries.conversations(
                agent, queries.Filters(search="9190000199"))),
        ]
        for name, call in cases:
            measure(name, call, args.rounds)
        plan = queries.page_queryset(agent).explain(analyze=True, buffers=True)
    client = Client()
    client.force_login(agent)
    for path in ("/inbox/list/", "/api/v1/conversations/"):
        def request(path: str = path) -> None:
            assert client.get(path).status_code == 200
        # Query counts of whole requests are not shown: Django resets them as a request starts.
        measure(f"GET {path}", request, args.rounds)
    print("\nEXPLAIN ANALYZE of the first page's query:\n" + plan)


if __name__ == "__main__":
    main()
