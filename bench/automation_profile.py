"""One automation run's cost in process: statements per message and a cProfile of the CPU time
(issue 16).

    python bench/automation_profile.py --conversations 50     # 200 runs, wbcrm_prof_auto
    python bench/automation_profile.py --top 0                # CPU time without the profiler

A throw-away database (--database, dropped at the end unless --keep) is migrated and seeded like
bench/automation.py with two organizations (the second closed all week: its away message
answers). Each conversation is the benchmark's "hi", "what is the price?", "book", then the
flow's answer; every message is stored, then `run_for_message` runs on it in autocommit (as the
Celery task does, after-commit work included) and only that run is counted and profiled.
Sends go to the fake Graph API in process; queued tasks go to a folder, never to a broker.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from automation import django_setup, seed  # noqa: E402
from generate import recreate_database  # noqa: E402

TEXTS = ("hi", "what is the price?", "book", "Mumbai")


def run(conversations: int, top: int, show: bool, dump: str | None) -> None:
    """Store and answer `conversations` conversations; print statements and the profile."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bench.fake_graph import FakeGraph
    from crm.automation.services import run_for_message
    from crm.models import Customer, Message
    from crm.whatsapp.client import use_transport
    from tenancy.context import tenant_context

    orgs = seed(2)
    profile = cProfile.Profile() if top else None
    statements: dict[str, list[int]] = defaultdict(list)
    seconds = 0.0
    fake = FakeGraph()
    with use_transport(fake.transport()):
        for c in range(conversations):
            org = orgs[c % len(orgs)]
            with tenant_context(org["org"]):
                customer = Customer.objects.create(wa_id=f"9198{c:08d}", name=f"Customer {c}")
                for text in TEXTS:
                    message = Message.objects.create(
                        customer=customer, from_wa_id=customer.wa_id, to_wa_id=org["display"],
                        type="text", body=text, sender_type="customer",
                        message_id=f"wamid.prof.{c}.{text[:4]}",
                        timestamp=timezone.now())
                    connection.queries_log.clear()  # it keeps 9,000: a longer run counts 0
                    with CaptureQueriesContext(connection) as queries:
                        # CPU time of this process, not the clock: PostgreSQL's work and the
                        # other processes on the shared cores stay out of it.
                        started = time.process_time()
                        if profile is not None:
                            profile.enable()
                        run_for_message(message.pk)
                        if profile is not None:
                            profile.disable()
                        seconds += time.process_time() - started
                    statements[text].append(len(queries))
                    if show and c == 0:
                        print(f"-- {text!r}: {len(queries)} statements")
                        for query in queries:
                            print("  ", query["sql"][:150])
    runs = conversations * len(TEXTS)
    print(f"{runs} runs, {len(fake.sent())} sends; statements per run by message: "
          + ", ".join(f"{text!r} {sum(n) / len(n):.1f}" for text, n in statements.items())
          + f"; in all {sum(sum(n) for n in statements.values()) / runs:.1f} a run")
    print(f"CPU in this process: {seconds * 1000 / runs:.2f} ms a run"
          + (" (profiled)" if profile is not None else ""))
    if profile is None:
        return
    if dump:
        profile.dump_stats(dump)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"crm/|tenancy/", top)  # the project's own
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="wbcrm_prof_auto")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--top", type=int, default=30,
                        help="functions listed per ordering (0: no profile, CPU time only)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--show", action="store_true", help="print the first conversation's SQL")
    parser.add_argument("--dump", help="also write the profile to this file (pstats)")
    args = parser.parse_args()
    broker = tempfile.mkdtemp(prefix="wbcrm-prof-broker-")
    os.environ.update({"CELERY_BROKER_URL": "filesystem://", "CELERY_FILESYSTEM_FOLDER": broker,
                       "LOG_LEVEL": "WARNING"})
    django_setup(args.database)
    recreate_database(args.database, "127.0.0.1", "postgres")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT,
                       check=True)
        run(args.conversations, args.top, args.show, args.dump)
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(broker, ignore_errors=True)
        if not args.keep:
            import psycopg2

            admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            admin.close()


if __name__ == "__main__":
    main()
