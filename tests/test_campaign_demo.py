"""Campaigns in the `bin/run` demo: SQLite, Kombu's filesystem transport and no Redis.

Everything runs in subprocesses as bin/run starts them (migrate, seed_demo, a Celery worker and
beat) on an SQLite file of the test's own; only the fake Graph API runs here, on a free port.
One demo organization's campaign is run as the admin's button does, the other's is scheduled
and started by beat; every recipient of each gets the campaign's message once.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fake_graph import FakeGraphServer

ROOT = Path(__file__).resolve().parent.parent

# Add a contact from a file to one demo organization's campaign and run it now (the builder's
# audience upload and send), schedule the other's for beat; print their ids.
START = """
import json, django
django.setup()
from django.utils import timezone
from crm.campaigns import audience, services
from crm.models import Campaign, Organization
from tenancy.context import tenant_context
first, second = Organization.objects.order_by("name")[:2]
with tenant_context(first):
    now_campaign = Campaign.objects.get(name__endswith="monsoon offer")
    upload = b"name,phone,labels\\nAsha,+91 98200 11111,VIP\\n"
    audience.add_audience(now_campaign, {"file": "people.csv", "data": upload, "mapping": {},
                                         "format": None})
    services.run_campaign(now_campaign)
with tenant_context(second):
    later = Campaign.objects.get(name__endswith="monsoon offer")
    Campaign.objects.filter(pk=later.pk).update(scheduled_at=timezone.now())
print(json.dumps([str(now_campaign.pk), str(later.pk)]))
"""

# Per campaign: its latest job's state, each audience row's (wa_id, status, reason) and the
# campaign page's progress counts.
OUTCOME = """
import json, sys, django
django.setup()
from crm.campaigns.progress import progress
from crm.models import Campaign
from tenancy.context import unscoped
answer = {}
with unscoped():  # the test reads both demo organizations' outcomes
    for campaign_id in json.loads(sys.argv[1]):
        job = Campaign.objects.get(pk=campaign_id).jobs.order_by("-created_at").first()
        answer[campaign_id] = {"state": job.state, "rows": list(job.statuses.values_list(
            "customer__wa_id", "status", "reason")), "counts": progress(job)["counts"]}
print(json.dumps(answer))
"""


@pytest.fixture
def graph() -> Iterator[FakeGraphServer]:
    with FakeGraphServer() as server:
        yield server


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _jobs_done(database: Path) -> tuple[int, int]:
    """(jobs completed, jobs stopped) of runs started since the demo data was loaded."""
    with sqlite3.connect(database, timeout=30) as db:
        return db.execute(
            "SELECT count(*) FILTER (WHERE state = 'completed'), "
            "count(*) FILTER (WHERE state = 'stopped') FROM jobs WHERE started_at IS NOT NULL"
        ).fetchone()


def test_demo_runs_campaigns_on_sqlite_with_a_worker_and_beat(
    tmp_path: Path, graph: FakeGraphServer,
) -> None:
    """Worker and beat on the filesystem broker, shared send state in a file, no Redis: both
    campaigns complete, and the fake received every recipient's message exactly once."""
    database = tmp_path / "db.sqlite3"
    broker = tmp_path / "broker"
    broker.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "crm.settings", "DATABASE_URL": f"sqlite:///{database}",
        "DEBUG": "true", "WBCRM_DEMO": "true", "WBCRM_DEMO_GRAPH_URL": graph.url,
        "CELERY_BROKER_URL": "filesystem://localhost//", "CELERY_FILESYSTEM_FOLDER": str(broker),
        "CAMPAIGN_STATE_FILE": str(tmp_path / "campaign-state.sqlite3"),
        "CAMPAIGN_SCHEDULE_SECONDS": "1",
        # No Redis at all: a socket that does not exist.
        "REDIS_URL": f"unix://{tmp_path}/no-redis.sock",
        "INBOX_REDIS_URL": f"unix://{tmp_path}/no-redis.sock", "CACHE_URL": "locmemcache://",
    }
    _run(env, "manage.py", "migrate", "--no-input")
    _run(env, "manage.py", "seed_demo")
    campaigns = json.loads(_run(env, "-c", START))
    celery = [sys.executable, "-m", "celery", "-A", "crm"]
    processes = [
        subprocess.Popen([*celery, "worker", "-P", "threads", "-c", "4", "-l", "warning",
                          "--without-gossip", "--without-mingle", "--without-heartbeat"],
                         cwd=ROOT, env=env),
        subprocess.Popen([*celery, "beat", "-l", "warning",
                          "--schedule", str(tmp_path / "beat-schedule")], cwd=ROOT, env=env),
    ]
    try:
        deadline = time.monotonic() + 180
        while _jobs_done(database) != (2, 0) and time.monotonic() < deadline:
            assert all(p.poll() is None for p in processes), "the worker or beat exited"
            assert _jobs_done(database)[1] == 0, "a campaign stopped: see the worker's stderr"
            time.sleep(0.2)
        assert _jobs_done(database) == (2, 0)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
    outcome = json.loads(_run(env, "-c", OUTCOME, json.dumps(campaigns)))
    sent = Counter(call.body["to"] for call in graph.fake.sent() if call.status == 200)
    expected: Counter[str] = Counter()
    for campaign in campaigns:
        rows = outcome[campaign]["rows"]
        assert outcome[campaign]["state"] == "completed"
        assert any(status == "success" for _, status, _ in rows)
        assert all(status == "success" or reason == "skipped: opted out"
                   for _, status, reason in rows)
        expected.update(wa_id for wa_id, status, _ in rows if status == "success")
        counts = outcome[campaign]["counts"]
        assert counts["pending"] == 0 and counts["total"] == len(rows)
        assert counts["success"] == sum(status == "success" for _, status, _ in rows)
    assert sent == expected
    assert "919820011111" in sent  # the contact the file added
    assert set(sent.values()) == {1}
