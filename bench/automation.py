"""Automation benchmark: answers to inbound messages, and follow-ups, end to end.

    python bench/automation.py                     # 50 inbound/s for 60 s, then 10,000 follow-ups
    python bench/automation.py --rate 50 --seconds 60 --followups 10000 --followup-window 100

A fresh database (--database) is migrated and seeded: --organizations organizations, each with
one number, a welcome rule, a keyword rule, a booking flow started by a keyword, a follow-up rule
and (every second organization, closed all week) an away message. gunicorn (DEBUG off) takes
signed webhook deliveries at --rate per second, each customer writing "hi", "price?", "book",
then answering the flow, 3 s apart; Celery workers on RabbitMQ run the rules and send through
the fake Graph API. Latency is from the POST to the first reply reaching the fake (its own clock).

Then --followups pending `no_customer_reply` items are stored, due one after the other over
--followup-window seconds from 20 s on: what they cost while pending (the beat's probe, their
size), then how late each reply reaches the fake after its due time (beat every second).
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from campaigns import fake_calls, rss_mb, start_process  # noqa: E402
from generate import recreate_database  # noqa: E402
from load import build_request, run_paced  # noqa: E402
from request_path import SECRET, Server  # noqa: E402

QUEUE = "bench-automation"
APP = "wbcrm_bench_app"  # workers and gunicorn serve as this role: row-level security on
GAP = 3.0  # seconds between one customer's messages: each is answered before the next comes
CLOSED_ALL_WEEK = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def django_setup(database: str) -> None:
    """Configure Django on the benchmark database."""
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-key")
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI=")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
    import django

    django.setup()


def _text(body: str) -> dict[str, Any]:
    return {"type": "send", "message": {"type": "text", "text": {"body": body}}}


def seed(organizations: int) -> list[dict[str, Any]]:
    """Organizations with their number and rules; per organization its ids."""
    from crm.models import AutomationRule, Flow
    from tenancy.context import tenant_context
    from tests.factories import OrganizationFactory, WhatsAppNumberFactory

    seeded = []
    for index in range(organizations):
        closed = index % 2 == 1
        org = OrganizationFactory(code=f"auto-{index}", time_zone="UTC",
                                  business_hours=CLOSED_ALL_WEEK if closed else {})
        with tenant_context(org):
            number = WhatsAppNumberFactory(phone_number_id=str(10**14 + index),
                                           display_number=f"+91 80000 {index:05d}")
            flow = Flow.objects.create(name="Booking", steps=[
                {"id": "city", "expect": "text", "answer": "city", "next": "done",
                 "message": {"type": "text", "text": {"body": "Which city are you in?"}}},
                {"id": "done", "actions": [{"type": "create_lead"}], "message": {
                    "type": "text", "text": {"body": "Thanks {{name}}, we will call you."}}}])
            rules = [
                ("Away", 5, True, {"type": "outside_hours", "every_hours": 12},
                 [_text("We are closed now, {{name}}; we answer when we open.")]),
                ("Welcome", 10, False, {"type": "first_message"},
                 [_text("Hi {{name}}, welcome! Ask for prices, or write book.")]),
                ("Prices", 20, True, {"type": "keyword", "keywords": ["price"],
                                      "match": "contains"},
                 [_text("Our prices start at 500.")]),
                ("Booking", 30, True, {"type": "keyword", "keywords": ["book"], "match": "exact"},
                 [{"type": "start_flow", "flow": str(flow.pk)}]),
                ("Follow-up", 40, False, {"type": "no_customer_reply", "minutes": 30},
                 [_text("Still there, {{name}}? Reply to continue.")]),
            ]
            for name, priority, stop, trigger, actions in rules:
                if name == "Away" and not closed:
                    continue
                AutomationRule.objects.create(
                    name=name, priority=priority, stop_processing=stop, trigger=trigger,
                    conditions={"numbers": [], "hours": "any"}, actions=actions)
            follow_up = AutomationRule.objects.get(name="Follow-up")
        seeded.append({"org": org.pk, "number": number.phone_number_id,
                       "display": "".join(c for c in number.display_number if c.isdigit()),
                       "follow_up": follow_up.pk})
    return seeded


def delivery(org: dict[str, Any], wa_id: str, wamid: str, text: str) -> bytes:
    """One signed webhook POST carrying one customer text message."""
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": org["display"],
                         "phone_number_id": org["number"]},
            "contacts": [{"profile": {"name": f"Customer {wa_id[-4:]}"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": text}}]}}]}]}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return build_request("POST", "/webhooks/whatsapp/", {
        "Content-Type": "application/json", "X-Hub-Signature-256": signature}, body)


def conversations(orgs: list[dict[str, Any]], rate: float, seconds: float
                  ) -> list[tuple[float, str, bytes]]:
    """(offset, wa_id, request) in time order: each customer's four messages GAP apart, a new
    customer every 4/rate seconds, the customers spread over the organizations in turn."""
    texts = ("hi", "what is the price?", "book", "Mumbai")
    run_id = int(time.time()) % 100000
    planned = []
    for c in range(int(rate * seconds / len(texts))):
        org = orgs[c % len(orgs)]
        wa_id = f"9199{run_id:05d}{c:05d}"
        start = c * len(texts) / rate
        for j, text in enumerate(texts):
            planned.append((start + j * GAP, wa_id,
                            delivery(org, wa_id, f"wamid.auto.{run_id}.{c}.{j}", text)))
    return sorted(planned, key=lambda item: item[0])


def percentiles(values: list[float]) -> str:
    """p50 / p95 / p99 / max of seconds, in milliseconds."""
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    return (f"p50 {at(0.50):7.1f} ms  p95 {at(0.95):7.1f} ms  p99 {at(0.99):7.1f} ms  "
            f"max {ordered[-1] * 1000:7.1f} ms")


def reply_times(graph_url: str) -> dict[str, list[float]]:
    """Per customer, when each send to them reached the fake Graph API."""
    replies: dict[str, list[float]] = defaultdict(list)
    for call in fake_calls(graph_url):
        replies[call["body"]["to"]].append(call["received_at"])
    return {wa_id: sorted(times) for wa_id, times in replies.items()}


def wait_for_quiet(graph_url: str, expected: int, timeout: float) -> None:
    """Until the fake has `expected` sends, or nothing new came for 5 s, or `timeout`."""
    deadline, last, still = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(fake_calls(graph_url))
        if count >= expected:
            return
        if count != last:
            last, still = count, time.monotonic()
        elif time.monotonic() - still > 5:
            return
        time.sleep(1)


def measure_inbound(port: int, graph_url: str, orgs: list[dict[str, Any]],
                    args: argparse.Namespace) -> None:
    """Paced deliveries; latency from each POST to the first reply after it."""
    planned = conversations(orgs, args.rate, args.seconds)
    print(f"\n{len(planned)} deliveries at {args.rate}/s over {len(orgs)} organizations",
          flush=True)
    sent = run_paced(port, planned, args.connections)
    statuses = defaultdict(int)
    for _, _, status, _ in sent:
        statuses[status] += 1
    print(f"webhook answers: {dict(statuses)}  acceptance {percentiles([s[3] for s in sent])}")
    wait_for_quiet(graph_url, len(sent), 60)
    replies = reply_times(graph_url)
    latencies, unanswered = [], 0
    for at, wa_id, _, _ in sent:
        after = [t for t in replies.get(wa_id, []) if t >= at]
        if not after:
            unanswered += 1
            continue
        latencies.append(after[0] - at)
    print(f"POST -> first reply at the fake Graph API: {percentiles(latencies)}  "
          f"({len(latencies)} answered, {unanswered} without a reply)", flush=True)


def store_followups(orgs: list[dict[str, Any]], count: int, window: float) -> float:
    """`count` pending follow-ups over the organizations, set-based; the first one's due time
    (epoch seconds). Each customer wrote a minute ago (inside the 24-hour window) and the bot
    answered; nobody wrote since, so each item fires when due."""
    from django.db import connection

    first_due = time.time() + 20
    per_org = count // len(orgs)
    with connection.cursor() as cursor:
        for index, org in enumerate(orgs):
            params = {"org": org["org"], "base": 10**11 * (index + 1), "n": per_org,
                      "display": org["display"], "rule": org["follow_up"], "first": first_due,
                      "orgs": len(orgs), "index": index, "step": window / count}
            # Two statements: the bot's answer must come after the customer's message (its id
            # is higher), or the item would see the customer as having answered.
            cursor.execute("""
                WITH c AS (
                    INSERT INTO customers (id, organization_id, wa_id, name, customer_status,
                                           created_at)
                    SELECT gen_random_uuid(), %(org)s, (%(base)s + i)::text, 'Follow ' || i,
                           'pending', now() - interval '2 minutes'
                    FROM generate_series(1, %(n)s) i
                    RETURNING id, wa_id)
                INSERT INTO messages (organization_id, message_id, from_wa_id, to_wa_id, type,
                                      body, timestamp, customer_id, sender_type)
                SELECT %(org)s, 'wamid.in.' || wa_id, wa_id, %(display)s, 'text', 'hello',
                       now() - interval '1 minute', id, 'customer' FROM c""", params)
            cursor.execute("""
                WITH ours AS (
                    INSERT INTO messages (organization_id, message_id, from_wa_id, to_wa_id,
                                          type, body, timestamp, customer_id, sender_type)
                    SELECT %(org)s, 'wamid.out.' || from_wa_id, %(display)s, from_wa_id, 'text',
                           'hi', now() - interval '50 seconds', customer_id, 'agent'
                    FROM messages WHERE organization_id = %(org)s
                    AND message_id LIKE 'wamid.in.%%'
                    RETURNING id, customer_id, to_wa_id)
                INSERT INTO automation_schedules (id, organization_id, rule_id, message_id,
                                                  customer_id, due_at, state, created_at,
                                                  updated_at)
                SELECT gen_random_uuid(), %(org)s, %(rule)s, ours.id, ours.customer_id,
                       to_timestamp(%(first)s + (row_number() OVER (ORDER BY ours.to_wa_id)
                                                 * %(orgs)s + %(index)s) * %(step)s),
                       'pending', now(), now()
                FROM ours""", params)
        cursor.execute("ANALYZE automation_schedules")
        cursor.execute("SELECT pg_total_relation_size('automation_schedules'), "
                       "count(*) FILTER (WHERE state = 'pending') FROM automation_schedules")
        size, pending = cursor.fetchone()
    print(f"\n{pending} pending follow-ups stored: automation_schedules {size / 2**20:.1f} MB "
          "with its indexes", flush=True)
    return first_due


def probe_cost() -> None:
    """What beat's per-second probe costs while nothing is due (the pending rows only wait): its
    claim query alone, rolled back, so this process never fires anything itself."""
    from django.db import connection, transaction

    times = []
    for _ in range(50):
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute("SELECT id FROM automation_schedules WHERE state = 'pending' "
                           "AND due_at <= now() ORDER BY due_at LIMIT 100 "
                           "FOR UPDATE SKIP LOCKED")
            cursor.fetchall()
            times.append(time.perf_counter() - started)
            transaction.set_rollback(True)
    print(f"beat's claim query with nothing due: {percentiles(times)}", flush=True)


def measure_followups(graph_url: str, orgs: list[dict[str, Any]], args: argparse.Namespace,
                      workers: list[subprocess.Popen[bytes]]) -> None:
    """Store the follow-ups, measure while pending, then each reply's lateness."""
    from django.db import connection

    first_due = store_followups(orgs, args.followups, args.followup_window)
    memory = {w.pid: rss_mb(w.pid) for w in workers}
    probe_cost()
    print("worker memory while pending: " + ", ".join(f"{m:.0f} MB" for m in memory.values()))
    time.sleep(max(0.0, first_due - time.time()))
    deadline = first_due + args.followup_window + 60
    with connection.cursor() as cursor:
        while time.time() < deadline:
            cursor.execute("SELECT count(*) FROM automation_schedules WHERE state = 'pending' "
                           "AND due_at < now() + interval '1 hour'")
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(1)
        cursor.execute("SELECT c.wa_id, extract(epoch FROM s.due_at) FROM automation_schedules s "
                       "JOIN customers c ON c.id = s.customer_id WHERE s.message_id IN "
                       "(SELECT id FROM messages WHERE message_id LIKE 'wamid.out.%%')")
        due = dict(cursor.fetchall())
        cursor.execute("SELECT state, count(*) FROM automation_schedules GROUP BY state")
        states = dict(cursor.fetchall())
    replies = reply_times(graph_url)
    late = [replies[wa_id][0] - float(at) for wa_id, at in due.items() if replies.get(wa_id)]
    print(f"follow-ups by state: {states}")
    if late:
        print(f"due -> reply at the fake Graph API: {percentiles(late)}  ({len(late)} of "
              f"{len(due)} sent; within 5 s: {sum(1 for s in late if s <= 5)})")
    print("worker memory after: " + ", ".join(f"{rss_mb(w.pid):.0f} MB" for w in workers),
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="wbcrm_bench_automation")
    parser.add_argument("--organizations", type=int, default=5)
    parser.add_argument("--rate", type=float, default=50.0, help="inbound deliveries per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument("--followups", type=int, default=10_000)
    parser.add_argument("--followup-window", type=float, default=100.0)
    parser.add_argument("--port", type=int, default=8092, help="the fake Graph API's")
    args = parser.parse_args()
    django_setup(args.database)
    from django.db import connections

    from kombu import Exchange, Queue

    from crm.celery import app, intake_queue

    recreate_database(args.database, "127.0.0.1", "postgres")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    subprocess.run([sys.executable, "manage.py", "tenancy_roles", "--owner", "postgres",
                    "--app", APP, "-v", "0"], cwd=ROOT, check=True)
    orgs = seed(args.organizations)
    connections.close_all()
    with app.connection_for_write() as conn:  # an earlier run's tasks are dropped
        for name in (QUEUE, intake_queue(QUEUE)):
            queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
            queue(conn.default_channel).declare()
            queue(conn.default_channel).purge()
    graph_url = f"http://127.0.0.1:{args.port}"
    serving = {"WHATSAPP_GRAPH_URL": graph_url, "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
               "LOG_LEVEL": "WARNING",
               "DATABASE_URL": os.environ["DATABASE_URL"].replace("//postgres@", f"//{APP}@")}
    fake = start_process([sys.executable, "bench/fake_graph.py", "--port", str(args.port)], {},
                         Path("/tmp/bench-automation-fake.log"))
    workers = [start_process(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "-P", "threads",
         "-c", str(args.concurrency), "-n", f"auto{index}@%h", "-l", "warning",
         "--without-gossip", "--without-mingle"], serving,
        Path(f"/tmp/bench-automation-worker{index}.log")) for index in range(args.workers)]
    beat = start_process([sys.executable, "-m", "celery", "-A", "crm", "beat", "-l", "warning",
                          "--schedule", f"/tmp/bench-automation-beat-{os.getpid()}"], serving,
                         Path("/tmp/bench-automation-beat.log"))
    try:
        time.sleep(5)  # workers connect; beat starts ticking
        with Server(args.database, env=serving, user=APP) as server:
            measure_inbound(server.port, graph_url, orgs, args)
        measure_followups(graph_url, orgs, args, workers)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        for process in (*workers, beat, fake):
            process.terminate()
        for process in (*workers, beat, fake):
            process.wait(30)


if __name__ == "__main__":
    main()
