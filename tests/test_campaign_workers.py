"""Campaigns sent by real Celery workers on RabbitMQ against the fake Graph API on a socket:
the rate limit held across two workers, stop and resume, and SIGKILL.

What is asserted is what the pacer promises (the send times it hands out, on the Redis server's
clock, recorded by tests.celery_probe in the workers) and the order of events, never when a send
reached the fake: on a loaded machine a send may leave its slot late."""
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.conf import settings

from bench.fake_graph import FakeGraphServer
from crm.campaigns import services
from crm.campaigns.ratelimit import HORIZON_MS
from crm.models import Job, Organization, WhatsAppNumber
from crm.shared_state import connection as redis_connection
from tenancy.context import tenant_context
from tests.campaign_support import Scenario, held_sends, scenario
from tests.celery_probe import chunks_key, slots_key
from tests.celery_support import Workers, wait_for

pytestmark = pytest.mark.usefixtures("redis_keys")


def _sends(server: FakeGraphServer) -> list[Any]:
    return [call for call in server.fake.sent() if call.status == 200]


def most_in_window(times: list[float], width: float) -> int:
    """The most of `times` in any window of `width`."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width:
            start += 1
        most = max(most, end - start + 1)
    return most


def _slots(number: WhatsAppNumber) -> list[float]:
    """The send times (ms, Redis's clock) the pacer granted for `number`, in order."""
    return sorted(float(at) for at in redis_connection().lrange(slots_key(number.pk), 0, -1))


def _chunk_ends(job: Job) -> list[str]:
    """How each sending chunk of `job` ended, in order."""
    return [end.decode() for end in redis_connection().lrange(chunks_key(job.pk), 0, -1)]


def _redis_ms() -> float:
    """Now on the Redis server's clock, the pacer's clock."""
    seconds, micros = redis_connection().time()
    return seconds * 1000 + micros / 1000


def _state(s: Scenario, job: Job) -> str:
    with tenant_context(s.organization):
        return Job.objects.get(pk=job.pk).state


def _run(s: Scenario) -> Job:
    with tenant_context(s.organization):
        return services.run_campaign(s.campaign)


def test_rate_limit_holds_across_two_workers(
    workers: Workers, org_a: Organization, fake_graph_server: FakeGraphServer,
) -> None:
    """Every send of the number, from both workers' senders, goes out in a slot the pacer handed
    out 106 ms (1,060 ms / 10) or more after the one before: at most 10 in any 1.06 s."""
    s = scenario(org_a, customers=50, recipients=0, numbers=1, rate=10)
    for _ in range(2):
        workers.start(concurrency=3, WBCRM_TEST_GRAPH_URL=fake_graph_server.url)
    job = _run(s)
    wait_for(lambda: _state(s, job) == Job.State.COMPLETED, timeout=60)
    sends = _sends(fake_graph_server)
    assert Counter(call.body["to"] for call in sends) == Counter(s.wa_ids)
    slots = _slots(s.numbers[0])
    assert len(slots) == len(sends)  # every send went out in a slot
    interval = settings.CAMPAIGN_RATE_WINDOW_MS / 10
    assert min(b - a for a, b in zip(slots, slots[1:])) >= interval - 0.001
    assert most_in_window(slots, settings.CAMPAIGN_RATE_WINDOW_MS) <= 10


def test_stop_hands_out_no_slot_after_it_and_resume_goes_on(
    workers: Workers, org_a: Organization, fake_graph_server: FakeGraphServer,
) -> None:
    """Stopped while sends are in flight (the fake holds them): no slot is handed out after the
    stop (each was granted before it, so lies at most HORIZON_MS beyond it), every sender ends
    its chain "stopped"; resumed, the rest go out, each customer once."""
    s = scenario(org_a, customers=40, recipients=0, numbers=1, rate=10)
    workers.start(concurrency=4, WBCRM_TEST_GRAPH_URL=fake_graph_server.url)
    with held_sends(fake_graph_server.fake, free=5) as held:
        job = _run(s)
        wait_for(lambda: held.held >= 1)
        with tenant_context(org_a):
            services.stop_campaign(s.campaign)
        stopped_at = _redis_ms()
    senders = settings.CAMPAIGN_SENDERS_PER_NUMBER
    wait_for(lambda: _chunk_ends(job).count("stopped") == senders, timeout=30)
    slots = _slots(s.numbers[0])
    assert max(slots) <= stopped_at + HORIZON_MS
    sent = len(_sends(fake_graph_server))
    assert sent == len(slots) < len(s.wa_ids)
    assert _state(s, job) == Job.State.STOPPED

    with tenant_context(org_a):
        services.resume_campaign(s.campaign)
    wait_for(lambda: _state(s, job) == Job.State.COMPLETED, timeout=60)
    assert Counter(c.body["to"] for c in _sends(fake_graph_server)) == Counter(s.wa_ids)


def test_sigkill_of_a_worker_loses_nobody(
    workers: Workers, org_a: Organization, fake_graph_server: FakeGraphServer,
) -> None:
    """Killed mid-campaign (the fake holds its sends after the 40th), another worker completes the
    job; only sends in flight at the kill may go twice."""
    s = scenario(org_a, customers=150, recipients=0, numbers=2, rate=30)
    env = {"WBCRM_TEST_GRAPH_URL": fake_graph_server.url, "CAMPAIGN_LEASE_SECONDS": "3"}
    doomed = workers.start(concurrency=4, **env)
    with held_sends(fake_graph_server.fake, free=40) as held:
        job = _run(s)
        wait_for(lambda: held.held >= 1)
        workers.kill(doomed)
    workers.start(concurrency=4, **env)
    wait_for(lambda: _state(s, job) == Job.State.COMPLETED, timeout=60)
    sent = Counter(c.body["to"] for c in _sends(fake_graph_server))
    assert set(sent) == s.wa_ids
    twice = sum(count - 1 for count in sent.values())
    assert twice <= 4, f"{twice} duplicates: more than the killed worker's concurrency"
