"""Running campaigns in eager mode against the fake Graph API: outcomes of every error class,
opted-out skipping, stop and resume, scheduling, and isolation through the API."""
from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.campaigns import services
from crm.campaigns.errors import CampaignActionError, CampaignBusy
from crm.campaigns.progress import progress
from crm.campaigns.sending import ChunkEnd, claim, run_chunk
from crm.campaigns.tasks import start_scheduled_campaigns, sweep_stalled_jobs
from crm.models import Campaign, CampaignLog, Customer, Job, JobStatus, Organization, Role
from tenancy.context import tenant_context
from tests.campaign_support import Scenario, scenario
from tests.factories import CampaignCustomerFactory
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for, staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "redis_keys")]


@pytest.fixture(autouse=True)
def _quick_retries(settings: Any) -> None:
    # A retried row is claimable again at once, and so is its customer (Meta's pair limit).
    settings.CAMPAIGN_RETRY_BASE_SECONDS = 0
    settings.CAMPAIGN_PAIR_SECONDS = 0.001


def _sent_to(fake: FakeGraph) -> Counter[str]:
    return Counter(call.body["to"] for call in fake.sent() if call.status == 200)


def _run(s: Scenario, capture: Any) -> Job:
    with tenant_context(s.organization), capture(execute=True):
        return services.run_campaign(s.campaign)


def _statuses(s: Scenario, job: Job) -> dict[str, tuple[str, str | None]]:
    with tenant_context(s.organization):
        return {row.customer.wa_id: (row.status, row.reason)
                for row in job.statuses.select_related("customer")}


def test_run_sends_once_to_customers_and_recipients(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any
) -> None:
    s = scenario(org_a, customers=4, recipients=3, numbers=2)
    job = _run(s, django_capture_on_commit_callbacks)
    assert _sent_to(fake_graph) == Counter(s.wa_ids)
    numbers = {call.path.split("/")[2] for call in fake_graph.sent()}
    assert numbers == {n.phone_number_id for n in s.numbers}  # spread over both numbers
    with tenant_context(org_a):
        job.refresh_from_db()
        assert job.state == Job.State.COMPLETED
        assert progress(job)["counts"] == {"total": 7, "pending": 0, "success": 7, "failure": 0,
                                           "skipped": 0}
        assert CampaignLog.objects.filter(job=job, status="sent").count() == 7
        assert Customer.objects.filter(wa_id__in=s.wa_ids).count() == 7
        assert Campaign.objects.get(pk=s.campaign.pk).status == "completed"


@pytest.mark.parametrize(("code", "status", "reason"), [
    (131026, "failure", "131026: fail"),  # undeliverable
    (132001, "failure", "132001: fail"),  # template problem
    (131047, "failure", "131047: outside_window"),
    (131050, "failure", "skipped: opted out"),
    (130429, "success", None),  # throughput: retried later, then sent
    (131056, "success", None),  # pair rate limit: retried later, then sent
    (131000, "success", None),  # Meta's server error: retried
])
def test_each_error_class_decides_the_recipient(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
    code: int, status: str, reason: str | None,
) -> None:
    s = scenario(org_a, customers=3, recipients=0)
    unlucky = s.customers[0]
    fake_graph.fail(code, to=unlucky.wa_id)
    job = _run(s, django_capture_on_commit_callbacks)
    outcome = _statuses(s, job)
    assert outcome[unlucky.wa_id] == (status, reason)
    assert {outcome[c.wa_id] for c in s.customers[1:]} == {("success", None)}
    with tenant_context(org_a):
        assert Job.objects.get(pk=job.pk).state == Job.State.COMPLETED
        if code == 131050:
            assert Customer.objects.get(pk=unlucky.pk).marketing_opt_out_at is not None


def test_retries_give_up_after_the_maximum(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    s = scenario(org_a, customers=1, recipients=0)
    fake_graph.fail(131000, times=settings.CAMPAIGN_MAX_ATTEMPTS)
    job = _run(s, django_capture_on_commit_callbacks)
    status, reason = _statuses(s, job)[s.customers[0].wa_id]
    assert (status, reason) == ("failure", "131000: gave up after 5 attempts")


@pytest.mark.parametrize("code", [131048, 190, 368, 200])  # spam, auth, blocked, permission
def test_account_errors_stop_the_campaign_with_the_reason(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
    code: int,
) -> None:
    s = scenario(org_a, customers=5, recipients=0)
    fake_graph.fail(code)
    job = _run(s, django_capture_on_commit_callbacks)
    assert len(fake_graph.sent()) == 1
    with tenant_context(org_a):
        job.refresh_from_db()
        assert job.state == Job.State.STOPPED
        assert f"Meta error {code}" in job.stop_reason
        assert progress(job)["counts"]["pending"] == 5  # nobody lost: resume sends them


def test_opted_out_customers_are_skipped_for_marketing_only(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
) -> None:
    template = {"name": "offers", "language": {"code": "en"}}
    marketing = scenario(org_a, customers=3, recipients=0, type=Campaign.Type.TEMPLATE,
                         content=template)
    utility = scenario(org_a, customers=0, recipients=0, type=Campaign.Type.TEMPLATE,
                       content={**template, "category": "utility"})
    out = marketing.customers[0]
    with tenant_context(org_a):
        Customer.objects.filter(pk=out.pk).update(marketing_opt_out_at=timezone.now())
        CampaignCustomerFactory(campaign=utility.campaign, customer=out)
    job = _run(marketing, django_capture_on_commit_callbacks)
    assert out.wa_id not in _sent_to(fake_graph)
    with tenant_context(org_a):
        assert progress(job)["counts"]["skipped"] == 1
        assert progress(job)["counts"]["success"] == 2
    _run(utility, django_capture_on_commit_callbacks)
    assert _sent_to(fake_graph)[out.wa_id] == 1


def test_stop_then_resume_sends_each_recipient_once(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
) -> None:
    s = scenario(org_a, customers=6, recipients=0)
    with tenant_context(org_a):
        with django_capture_on_commit_callbacks() as senders:
            job = services.run_campaign(s.campaign)
        with pytest.raises(CampaignBusy):
            services.run_campaign(s.campaign)
        services.stop_campaign(s.campaign)
    with tenant_context(org_a):
        for start in senders:
            start()  # the senders find the job stopped and send nothing
        assert fake_graph.sent() == []
        job.refresh_from_db()
        assert progress(job)["state"] == Job.State.STOPPED
        with pytest.raises(CampaignActionError, match="not running"):
            services.stop_campaign(s.campaign)
        with django_capture_on_commit_callbacks(execute=True):
            services.resume_campaign(s.campaign)
        job.refresh_from_db()
        assert progress(job)["counts"]["success"] == 6
        assert progress(job)["state"] == Job.State.COMPLETED
    assert _sent_to(fake_graph) == Counter(s.wa_ids)


def test_beat_starts_campaigns_whose_time_has_come(
    org_a: Organization, org_b: Organization, fake_graph: FakeGraph,
    django_capture_on_commit_callbacks: Any,
) -> None:
    due = scenario(org_a, customers=2, recipients=0,
                   scheduled_at=timezone.now() - timedelta(minutes=1))
    later = scenario(org_b, customers=2, recipients=0,
                     scheduled_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert start_scheduled_campaigns.delay().get() == 1
    assert _sent_to(fake_graph) == Counter(due.wa_ids)
    with tenant_context(org_b):
        assert not Job.objects.filter(campaign=later.campaign).exists()


def test_api_runs_stops_resumes_and_reports_progress(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
) -> None:
    s = scenario(org_a, customers=2, recipients=1)
    client = client_for(staff(org_a))
    base = f"/api/v1/campaigns/{s.campaign.pk}"
    assert client.get(f"{base}/progress/").status_code == 404  # never ran
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"{base}/run/")
    assert answer.status_code == 202, answer.content
    assert answer.json()["state"] == "running"
    report = client.get(f"{base}/progress/").json()
    assert report["state"] == "completed"
    assert report["counts"]["success"] == 3
    assert client.post(f"{base}/stop/").status_code == 400  # not running any more
    assert client.post(f"{base}/resume/").status_code == 400


def test_api_refuses_content_whatsapp_would_refuse(org_a: Organization) -> None:
    s = scenario(org_a, content={"text": "not a text object"})
    answer = client_for(staff(org_a)).post(f"/api/v1/campaigns/{s.campaign.pk}/run/")
    assert answer.status_code == 400
    assert "Fix the campaign's content" in answer.json()["detail"]


BAD_FROM_NUMBERS = [5, "106540352242922", {"a": 1}, [{"id": "1"}], [""], [None]]


@pytest.mark.parametrize("numbers", BAD_FROM_NUMBERS, ids=repr)
def test_from_numbers_of_the_wrong_type_are_refused_on_write(
    org_a: Organization, numbers: Any
) -> None:
    s = scenario(org_a)
    content = {"body": "Offers", "from_numbers": numbers}
    client = client_for(staff(org_a))
    answer = client.patch(f"/api/v1/campaigns/{s.campaign.pk}/", {"content": content},
                          format="json")
    assert answer.status_code == 400
    assert answer.json()["content"][0].startswith("content.from_numbers: a list")
    admin = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    form = {"name": "Offers", "type": "text", "status": "draft", "content": json.dumps(content),
            **{f"{p}-{k}": "0" for p in ("jobs", "audience", "recipients", "logs")
               for k in ("TOTAL_FORMS", "INITIAL_FORMS")}}
    page = admin.post(admin_url(Campaign, "change", s.campaign), form)
    assert page.status_code == 200
    assert page.context["adminform"].form.errors["content"][0].startswith(
        "content.from_numbers: a list")
    with tenant_context(org_a):
        assert Campaign.objects.get(pk=s.campaign.pk).content == s.campaign.content


@pytest.mark.parametrize("numbers", BAD_FROM_NUMBERS, ids=repr)
def test_stored_from_numbers_of_the_wrong_type_refuse_the_run_with_the_reason(
    org_a: Organization, fake_graph: FakeGraph, numbers: Any
) -> None:
    s = scenario(org_a)
    with tenant_context(org_a):  # stored before writes were checked
        Campaign.objects.filter(pk=s.campaign.pk).update(
            content={"body": "Offers", "from_numbers": numbers})
    answer = client_for(staff(org_a)).post(f"/api/v1/campaigns/{s.campaign.pk}/run/")
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("content.from_numbers: a list")
    with tenant_context(org_a):
        Campaign.objects.filter(pk=s.campaign.pk).update(scheduled_at=timezone.now())
    assert start_scheduled_campaigns() == 0
    with tenant_context(org_a):
        assert Campaign.objects.get(pk=s.campaign.pk).status == "failed"
        assert not Job.objects.exists()
    assert fake_graph.sent() == []


def test_content_changed_during_a_run_stops_the_job_with_the_reason(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any
) -> None:
    s = scenario(org_a, customers=2, recipients=0)
    with tenant_context(org_a), django_capture_on_commit_callbacks(execute=False):
        job = services.run_campaign(s.campaign)  # queued, its senders not started yet
        Campaign.objects.filter(pk=s.campaign.pk).update(content={"body": ["not", "text"]})
        job.refresh_from_db()
        assert run_chunk(job, s.numbers[0]) is ChunkEnd.STOPPED
        job.refresh_from_db()
    assert job.state == Job.State.STOPPED
    assert "Fix the campaign's content" in job.stop_reason
    assert fake_graph.sent() == []


def test_agents_may_not_run_stop_or_resume(org_a: Organization) -> None:
    s = scenario(org_a)
    agent = client_for(staff(org_a, Role.AGENT))
    for action in ("run", "stop", "resume"):
        assert agent.post(f"/api/v1/campaigns/{s.campaign.pk}/{action}/").status_code == 403
    with tenant_context(org_a):
        assert not Job.objects.exists()


@pytest.mark.parametrize("action", ["run", "stop", "resume", "progress"])
def test_another_organizations_campaign_is_404(
    org_a: Organization, org_b: Organization, action: str
) -> None:
    theirs = scenario(org_b)
    client = client_for(staff(org_a))
    url = f"/api/v1/campaigns/{theirs.campaign.pk}/{action}/"
    answer = client.get(url) if action == "progress" else client.post(url)
    assert answer.status_code == 404
    assert client.post("/api/v1/campaigns/not-a-uuid/run/").status_code == 404
    with tenant_context(org_b):
        assert not JobStatus.objects.exists() and not Job.objects.exists()


def test_admin_runs_stops_and_resumes_selected_campaigns(
    org_a: Organization, org_b: Organization, fake_graph: FakeGraph,
    django_capture_on_commit_callbacks: Any,
) -> None:
    s = scenario(org_a, customers=2, recipients=0)
    theirs = scenario(org_b, customers=1, recipients=0)
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    url = admin_url(Campaign)

    def act(action: str, *campaigns: Campaign) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post(url, {"action": action, "_selected_action": [
                str(c.pk) for c in campaigns]})
        assert answer.status_code == 302

    act("run_campaigns", s.campaign, theirs.campaign)  # B's id is not among A's rows
    assert _sent_to(fake_graph) == Counter(s.wa_ids)
    page = client.get(admin_url(Campaign, "change", s.campaign)).content.decode()
    assert "completed: total 2, pending 0, success 2" in page
    act("stop_campaigns", s.campaign)  # refused with a message: it is not running
    with tenant_context(org_b):
        assert not Job.objects.exists()
    agent = signed_in(make_staff(org_a, Role.AGENT))
    assert agent.post(url, {"action": "run_campaigns",
                            "_selected_action": [str(s.campaign.pk)]}).status_code in (200, 403)
    with tenant_context(org_a):
        assert Job.objects.filter(campaign=s.campaign).count() == 1


def test_sweep_restarts_senders_of_a_job_nothing_touched(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
) -> None:
    """A running job whose chain of chunks was lost is picked up by beat's sweep."""
    s = scenario(org_a, customers=3, recipients=0)
    with tenant_context(org_a):
        with django_capture_on_commit_callbacks():  # the first chunks are never queued
            job = services.run_campaign(s.campaign)
        JobStatus.objects.filter(job=job).update(updated_at=timezone.now() - timedelta(hours=1))
    assert sweep_stalled_jobs.delay().get() == 1
    assert _sent_to(fake_graph) == Counter(s.wa_ids)
    assert sweep_stalled_jobs.delay().get() == 0  # completed: nothing to restart


def test_a_claim_reads_its_rows_in_order_from_an_index(
    org_a: Organization, org_b: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    """No sort of every pending row of the number per claim: its cost must not grow with the job."""
    scenario(org_b, customers=3, recipients=0)
    s = scenario(org_a, customers=5, recipients=0)
    with tenant_context(org_a), django_capture_on_commit_callbacks(execute=False):
        job = services.run_campaign(s.campaign)  # queued, not sent: every row pending
    with tenant_context(org_a), transaction.atomic(), CaptureQueriesContext(connection) as seen:
        rows = claim(job, s.numbers[0], 2)
        transaction.set_rollback(True)
    assert len(rows) == 2
    (update,) = [q["sql"] for q in seen.captured_queries
                 if q["sql"].startswith("UPDATE job_status")]
    with transaction.atomic(), connection.cursor() as cursor:
        # As on a large job: the planner may not read the whole table, nor sort it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {update}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
        transaction.set_rollback(True)
    # The planner may take crm.0042's partial index or the primary key (job, customer): both
    # hand the rows over in customer order; which one depends on the statistics of the moment.
    assert "Sort" not in plan and "Seq Scan on job_status" not in plan, plan
    with connection.cursor() as cursor:  # on a large job, the partial index is the one read
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                       ["job_status_org_claim_idx"])
        (definition,) = cursor.fetchone()
    assert "(organization_id, job_id, whatsapp_number_id, customer_id) WHERE" in definition
