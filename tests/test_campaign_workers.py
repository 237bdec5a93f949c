"""Campaigns sent by real Celery workers on RabbitMQ against the fake Graph API on a socket:
the rate limit held across two workers, stop within a second and resume, and SIGKILL."""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from bench.fake_graph import FakeGraphServer
from crm.campaigns import services
from crm.models import Job, Organization
from tenancy.context import tenant_context
from tests.campaign_support import Scenario, scenario
from tests.celery_support import Workers, wait_for

pytestmark = pytest.mark.usefixtures("redis_keys")


def _sends(server: FakeGraphServer) -> list[Any]:
    return [call for call in server.fake.sent() if call.status == 200]


def most_in_window(times: list[float], seconds: float) -> int:
    """The most sends the fake received in any window of `seconds`."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def _state(s: Scenario, job: Job) -> str:
    with tenant_context(s.organization):
        return Job.objects.get(pk=job.pk).state


def _run(s: Scenario) -> Job:
    with tenant_context(s.organization):
        return services.run_campaign(s.campaign)


def test_rate_limit_holds_across_two_workers(
    workers: Workers, org_a: Organization, fake_graph_server: FakeGraphServer,
) -> None:
    """Sends are paced one per 106 ms (10 per 1.06 s) by both workers together, as the fake's own
    clock shows. Its first second is left out: on this shared machine the first sends of a
    loaded worker (new connections) can reach the fake 100-250 ms late and bunch up; the
    benchmark reports every window (docs/BENCHMARKS.md)."""
    s = scenario(org_a, customers=50, recipients=0, numbers=1, rate=10)
    for _ in range(2):
        workers.start(concurrency=3, WBCRM_TEST_GRAPH_URL=fake_graph_server.url)
    job = _run(s)
    wait_for(lambda: _state(s, job) == Job.State.COMPLETED, timeout=30)
    sends = _sends(fake_graph_server)
    assert Counter(call.body["to"] for call in sends) == Counter(s.wa_ids)
    times = sorted(call.received_at for call in sends)
    assert most_in_window([t for t in times if t >= times[0] + 1.0], 1.0) <= 10
    assert times[-1] - times[0] >= 49 * 0.106 * 0.85  # shared: two own limits would halve it


def test_stop_takes_effect_within_a_second_and_resume_goes_on(
    workers: Workers, org_a: Organization, fake_graph_server: FakeGraphServer,
) -> None:
    s = scenario(org_a, customers=40, recipients=0, numbers=1, rate=10)
    workers.start(concurrency=4, WBCRM_TEST_GRAPH_URL=fake_graph_server.url)
    job = _run(s)
    wait_for(lambda: len(_sends(fake_graph_server)) >= 5)
    with tenant_context(org_a):
        services.stop_campaign(s.campaign)
    stopped_at = time.time()
    time.sleep(1.5)
    sent_before = len(_sends(fake_graph_server))
    assert all(c.received_at < stopped_at + 1.0 for c in _sends(fake_graph_server))
    assert sent_before < 40
    with tenant_context(org_a):
        services.resume_campaign(s.campaign)
    wait_for(lambda: _state(s, job) == Job.State.COMPLETED, timeout=30)
    assert Counter(c.body["to"] for c in _sends(fake_graph_server)) == Counter(s.wa_ids)


def test_sigkill_of_a_worker_loses_nobody(
    workers: Workers, org_a: Organization, fake_graph_server: FakeGraphServer,
) -> None:
    """Another worker completes the job; only sends in flight at the kill may go twice."""
    s = scenario(org_a, customers=150, recipients=0, numbers=2, rate=30)
    env = {"WBCRM_TEST_GRAPH_URL": fake_graph_server.url, "CAMPAIGN_LEASE_SECONDS": "3"}
    doomed = workers.start(concurrency=4, **env)
    job = _run(s)
    wait_for(lambda: len(_sends(fake_graph_server)) >= 40)
    workers.kill(doomed)
    killed_after = len(_sends(fake_graph_server))
    workers.start(concurrency=4, **env)
    wait_for(lambda: _state(s, job) == Job.State.COMPLETED, timeout=60)
    sent = Counter(c.body["to"] for c in _sends(fake_graph_server))
    assert set(sent) == s.wa_ids
    twice = sum(count - 1 for count in sent.values())
    assert twice <= 4, f"{twice} duplicates: more than the killed worker's concurrency"
    assert killed_after < len(s.wa_ids)  # the kill happened mid-campaign
