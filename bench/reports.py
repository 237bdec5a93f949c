"""Reports benchmark: the dashboard's queries and a 100,000-recipient campaign's report in one
organization with 200,000 customers and 3,000,000 messages (figures in docs/BENCHMARKS.md).

    createdb wbcrm_reports && DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1/wbcrm_reports \\
        python manage.py migrate
    python bench/reports.py --database wbcrm_reports --generate   # fill it once, then measure
    python bench/reports.py --database wbcrm_reports --rounds 100  # measure again

`--generate` writes the rows set-based on the server (INSERT ... SELECT over generate_series,
the roll-up triggers off meanwhile), then times `crm.reports.rollups.rebuild` of the year (the
same roll-ups the triggers keep as rows arrive). Then, as the organization, times each report
(p50/p95/max of `--rounds` calls after a warm-up) and the campaign report's HTTP request.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inbox import measure  # noqa: E402  (bench/inbox.py: the same timing and printout)

CUSTOMERS, MESSAGES, RECIPIENTS = 200_000, 3_000_000, 100_000
START = "2025-12-01"  # a year of messages up to the end of November 2026
YEAR = (date(2025, 12, 1), date(2026, 11, 30))
NUMBERS = ("919800000001", "919800000002")
AGENTS = 20

GENERATE = [
    # Two of every three messages are the customer's, the third an agent's reply 0-10 minutes
    # later; every third reply of the year is billed (utility or marketing).
    """INSERT INTO customers (id, organization_id, wa_id, name, created_at, customer_status,
           last_message_at, last_inbound_at, business_number)
       SELECT md5('rc' || i)::uuid, %(org)s, (919000000000 + i)::text, 'Customer ' || i,
              timestamp %(start)s + (i * 157 || ' seconds')::interval, 'open',
              CASE WHEN i %% 7 = 0 THEN timestamp '2026-11-30' END,
              CASE WHEN i %% 7 = 0 THEN timestamp '2026-11-30' END, %(number)s
         FROM generate_series(0, %(customers)s - 1) i""",
    """INSERT INTO messages (organization_id, customer_id, message_id, from_wa_id, to_wa_id, type,
           body, "timestamp", sender_type, agent_id, delivery_status, billable_category)
       SELECT %(org)s, md5('rc' || ((i / 3) %% %(customers)s))::uuid, 'wamid.r' || i,
              CASE WHEN i %% 3 = 2 THEN %(number)s
                   ELSE (919000000000 + (i / 3) %% %(customers)s)::text END,
              CASE WHEN i %% 3 = 2 THEN (919000000000 + (i / 3) %% %(customers)s)::text
                   ELSE %(number)s END,
              'text', 'message ' || i,
              timestamp %(start)s + ((i * 10.5)::bigint || ' seconds')::interval
                + CASE WHEN i %% 3 = 2 THEN ((i / 3) %% 600 || ' seconds')::interval
                       ELSE interval '0' END,
              CASE WHEN i %% 3 = 2 THEN 'agent' ELSE 'customer' END,
              CASE WHEN i %% 3 = 2 THEN (%(agents)s::text[])[1 + (i / 3) %% %(n_agents)s] END,
              CASE WHEN i %% 3 = 2 THEN 'read' END,
              CASE WHEN i %% 9 = 2 THEN 'utility' WHEN i %% 9 = 5 THEN 'marketing' END
         FROM generate_series(0, %(messages)s - 1) i""",
    # The campaign: 100,000 recipients from two numbers; 10%% failed at Meta (three codes), the
    # rest sent, delivered or read; 8%% replied; 5,000 orders, paid within 3 days.
    """INSERT INTO job_status (job_id, customer_id, organization_id, status, attempts, reason,
           updated_at, replied_at)
       SELECT %(job)s, md5('rc' || i)::uuid, %(org)s,
              (CASE WHEN i %% 10 = 9 THEN 'failure' ELSE 'success' END)::job_status_enum, 1,
              CASE WHEN i %% 10 = 9 THEN '131026: fail' END,
              timestamp '2026-11-20 10:00' + (i * 10 || ' milliseconds')::interval,
              CASE WHEN i %% 25 = 3 THEN timestamp '2026-11-20 12:00' END
         FROM generate_series(0, %(recipients)s - 1) i""",
    """INSERT INTO messages (organization_id, customer_id, message_id, from_wa_id, to_wa_id, type,
           "timestamp", sender_type, delivery_status, error_code, campaign_job_id,
           billable_category)
       SELECT %(org)s, md5('rc' || i)::uuid, 'wamid.c' || i, (%(numbers)s::text[])[1 + i %% 2],
              (919000000000 + i)::text, 'template',
              timestamp '2026-11-20 10:00' + (i * 10 || ' milliseconds')::interval, 'campaign',
              CASE i %% 10 WHEN 9 THEN 'failed' WHEN 8 THEN 'sent' WHEN 7 THEN 'delivered'
                   WHEN 6 THEN 'delivered' ELSE 'read' END,
              CASE WHEN i %% 10 = 9 THEN (ARRAY[131026, 131049, 131047])[1 + i %% 3] END,
              %(job)s, CASE WHEN i %% 10 <> 9 THEN 'marketing' END
         FROM generate_series(0, %(recipients)s - 1) i""",
    """INSERT INTO orders (id, organization_id, customer_id, status, "timestamp",
           payment_completed_at)
       SELECT md5('ro' || i)::uuid, %(org)s, md5('rc' || i * 20)::uuid, 'paid',
              timestamp '2026-11-21', timestamp '2026-11-21' + (i %% 72 || ' hours')::interval
         FROM generate_series(0, 4999) i""",
    """INSERT INTO referrer_tracking (organization_id, customer_id, wa_id, created_at,
           message_id, source_type, source_id, headline)
       SELECT %(org)s, md5('rc' || i * 19)::uuid,
              (919000000000 + i * 19)::text,
              timestamp %(start)s + (i * 3150 || ' seconds')::interval, 'wamid.ref' || i, 'ad',
              (120201 + i %% 12)::text, 'Ad ' || i %% 12
         FROM generate_series(0, 9999) i""",
]


def generate() -> tuple[Any, Any]:
    """The organization, its agents, campaign and 100,000-recipient run, and the bulk rows."""
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.models import Campaign, Job, Organization, Role, User
    from crm.reports.period import Period
    from crm.reports.rollups import rebuild
    from tenancy.context import tenant_context, unscoped

    with unscoped():  # the benchmark's own organization is created by platform code
        organization = Organization.objects.create(name="Reports bench", code="reports-bench")
        role, _ = Role.objects.get_or_create(name=Role.AGENT, defaults={"display_name": "Agent"})
    with tenant_context(organization):
        agents = [User.objects.create_user(f"bench_agent_{n}", "bench-password", role=role,
                                           email=f"agent{n}@bench.example",
                                           phone_number=f"9000{n}")
                  for n in range(AGENTS)]
        campaign = Campaign.objects.create(name="November sale", created_by=agents[0],
                                           type="template", created_at=timezone.now())
        sent = datetime(2026, 11, 20, 10, tzinfo=UTC)
        job = Job.objects.create(campaign=campaign, state="completed", created_at=sent,
                                 started_at=sent)
        params = {"org": organization.pk, "start": START, "number": NUMBERS[0],
                  "numbers": list(NUMBERS), "customers": CUSTOMERS, "messages": MESSAGES,
                  "recipients": RECIPIENTS, "job": job.pk, "n_agents": AGENTS,
                  "agents": [str(agent.pk) for agent in agents]}
        # Bench data, set-based as the organization: the triggers are off while it is written
        # (the owner's ALTER), and the year is rolled up once after.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE messages DISABLE TRIGGER USER")
            for statement in GENERATE:
                started = time.monotonic()
                cursor.execute(statement, params)
                print(f"{statement.split()[2]:<18} {cursor.rowcount:>10,} rows  "
                      f"{time.monotonic() - started:6.1f} s", flush=True)
            # The keys' checks wait for the commit; ALTER TABLE refuses pending ones.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE messages ENABLE TRIGGER USER")
        started = time.monotonic()
        rebuild(Period(*YEAR, organization.time_zone))
        print(f"roll-ups of the year rebuilt in {time.monotonic() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:  # statistics for the planner, as autovacuum would
        cursor.execute("VACUUM ANALYZE")
    return organization, campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="wbcrm_reports")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--generate", action="store_true", help="fill the migrated database")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = f"postgres://{args.user}@{args.host}:5432/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-key")  # DEBUG off: crm.settings needs a key
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI=")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.test import Client

    from crm.models import Campaign, Customer, Message, Organization, Role, User
    from crm.reports import campaign_report, queries
    from crm.reports.period import Period
    from tenancy.context import tenant_context, unscoped

    if args.generate:
        generate()
    with unscoped():  # the benchmark's organization, by its code
        organization = Organization.objects.get(code="reports-bench")
    month = Period(date(2026, 11, 1), date(2026, 11, 30), organization.time_zone)
    year = Period(*YEAR, organization.time_zone)
    with tenant_context(organization):
        campaign = Campaign.objects.get(name="November sale")
        print(f"organization {organization.code}: {Customer.objects.count():,} customers, "
              f"{Message.objects.count():,} messages; campaign of "
              f"{campaign.jobs.get().statuses.count():,} recipients")
        report = campaign_report.report(campaign)
        print(f"campaign report: sent {report['sent']:,}, delivered {report['delivered']:,}, "
              f"read {report['read']:,}, replied {report['replied']:,}, failed "
              f"{report['failed']:,}, paid within 7 days {report['orders_paid_within_7_days']:,}")
        cases = [
            ("overview, 30 days", lambda: queries.overview(month)),
            ("agents, 30 days", lambda: queries.agents(month)),
            ("overview, a year", lambda: queries.overview(year)),
            ("agents, a year", lambda: queries.agents(year)),
            ("campaigns, a year", lambda: queries.campaigns(year)),
            ("referrals, a year", lambda: queries.referrals(year)),
            ("usage, a month", lambda: queries.usage(month)),
            ("campaign report (100,000)", lambda: campaign_report.report(campaign)),
        ]
        results = [(name, *measure(name, call, args.rounds)) for name, call in cases]
        admin = User.objects.filter(role__name=Role.ORG_ADMIN).first() or User.objects.create_user(
            "bench_admin", "bench-password", email="admin@bench.example", phone_number="9001",
            role=Role.objects.get_or_create(name=Role.ORG_ADMIN,
                                            defaults={"display_name": "Admin"})[0])
    client = Client()
    client.force_login(admin)
    url = f"/api/v1/campaigns/{campaign.pk}/report/"
    results.append(("GET campaign report", *measure(
        "GET campaign report", lambda: client.get(url).status_code == 200 or sys.exit(url),
        args.rounds)))
    slow = [name for name, _, p95 in results if p95 > 300]
    print("every case within 300 ms p95" if not slow else f"over 300 ms p95: {', '.join(slow)}")


if __name__ == "__main__":
    main()
