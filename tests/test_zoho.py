"""Zoho CRM leads against bench/fake_zoho.py: pushes from the API, the admin and automation, the
access token (cached, refreshed once when it expires mid-run, even by two pushes at once), a
revoked refresh token (broken, leads wait for new credentials), retries, the treatment mapping,
no token anywhere it is logged, and isolation of leads and pushes between organizations."""
from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import connections
from django.utils import timezone

from bench.fake_zoho import Call, FakeZoho, FakeZohoServer
from crm import shared_state
from crm.automation import actions
from crm.celery import app
from crm.automation.errors import InvalidRule
from crm.automation.flows import create_lead
from crm.automation.inbound import Inbound
from crm.inbox.services import NotAllowed
from crm.integrations import credentials
from crm.models import (
    IntegrationCredential,
    Lead,
    Organization,
    Role,
    ZohoMapping,
    ZohoPayloadLog,
)
from crm.zoho import services
from crm.zoho.client import use_transport
from crm.zoho.errors import Broken, NotConfigured, Unavailable
from crm.zoho.mapping import to_record
from tenancy.context import tenant_context, unscoped
from tests.factories import AutomationRuleFactory, CustomerFactory, LeadFactory, MessageFactory
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for, staff

REFRESH = "1000.refresh-SECRET-3f9a1c"
CLIENT_SECRET = "client-SECRET-77b2e0"
URL = "/api/v1/leads/"


@pytest.fixture
def fake_zoho(redis_keys: None) -> Iterator[FakeZoho]:
    """Zoho faked in process (no socket); this test's cached tokens dropped afterwards."""
    fake = FakeZoho()
    with use_transport(fake.transport()):
        yield fake


def configure(org: Organization, refresh_token: str = REFRESH) -> None:
    """Store Zoho credentials for `org`."""
    with tenant_context(org):
        credentials.save("zoho", {"client_id": "1000.CLIENT", "client_secret": CLIENT_SECRET,
                                  "refresh_token": refresh_token, "domain": "zoho.in"})


def new_lead(org: Organization, **values: Any) -> Lead:
    """A lead of `org` not yet pushed."""
    with tenant_context(org):
        return LeadFactory(zoho_lead_id=f"local-{uuid.uuid4()}", **values)


def push(org: Organization, lead: Lead) -> Lead:
    with tenant_context(org):
        return services.push_lead(lead)


def stored(org: Organization, lead: Lead) -> Lead:
    with tenant_context(org):
        return Lead.objects.get(pk=lead.pk)


def status_of(org: Organization) -> IntegrationCredential:
    with tenant_context(org):
        return IntegrationCredential.objects.get(provider="zoho")


# -- mapping -------------------------------------------------------------------------------------


def test_the_organizations_mapping_overrides_the_shared_row(org_a, org_b) -> None:
    with unscoped():  # shared mappings are platform rows
        ZohoMapping.objects.create(treatment_name="Acne", zoho_name="Acne (shared)",
                                   zoho_sub_concern="Scars")
    with tenant_context(org_a):
        ZohoMapping.objects.create(treatment_name="acne", zoho_name="Acne (A's)")
        mine = to_record(LeadFactory.build(treatment_name="Acne", last_name=None,
                                           first_name="Asha", city="Pune"))
    with tenant_context(org_b):
        shared = to_record(LeadFactory.build(treatment_name="ACNE"))
        unmapped = to_record(LeadFactory.build(treatment_name="Freckles",
                                               zoho_mapped_concern=None))
    assert mine["Concerns"] == "Acne (A's)" and "Sub_Concerns" not in mine
    assert mine["Last_Name"] == "Asha" and mine["City"] == "Pune"
    assert shared["Concerns"] == "Acne (shared)" and shared["Sub_Concerns"] == "Scars"
    assert "Concerns" not in unmapped and unmapped["Additional_Concerns"] == ["Freckles"]


# -- pushes --------------------------------------------------------------------------------------


def test_a_lead_created_from_the_api_is_pushed_with_zohos_id(
        fake_zoho, org_a, eager, django_capture_on_commit_callbacks) -> None:
    configure(org_a)
    with tenant_context(org_a):
        ZohoMapping.objects.create(treatment_name="Hair Loss", zoho_name="Hair Fall")
    api = client_for(staff(org_a))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, {"first_name": "Ravi", "last_name": "Kumar", "phone": "9198001",
                                  "wa_id": "9198001", "treatment_name": "Hair Loss"},
                            format="json")
    assert response.status_code == 201, response.content
    lead = stored(org_a, Lead(pk=response.json()["id"]))
    assert lead.zoho_push_status == "pushed" and lead.zoho_lead_id in fake_zoho.leads
    assert fake_zoho.leads[lead.zoho_lead_id]["Concerns"] == "Hair Fall"
    assert lead.zoho_mapped_concern == "Hair Fall" and lead.zoho_pushed_at is not None
    assert status_of(org_a).status == "ok"
    with tenant_context(org_a):
        logs = list(ZohoPayloadLog.objects.order_by("id").values_list("status", "lead_id"))
    assert logs == [("token", str(lead.pk)), ("success", str(lead.pk))]


def test_a_lead_added_in_the_admin_is_pushed(fake_zoho, org_a, eager,
                                             django_capture_on_commit_callbacks) -> None:
    configure(org_a)
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    form = client.get(admin_url(Lead, "add")).context["adminform"].form
    assert form.initial["zoho_lead_id"].startswith("local-")
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(admin_url(Lead, "add"), {
            "zoho_lead_id": form.initial["zoho_lead_id"], "first_name": "Lata",
            "phone": "9197001", "wa_id": "9197001"})
    assert answer.status_code == 302
    with tenant_context(org_a):
        lead = Lead.objects.get(first_name="Lata")
    assert lead.zoho_push_status == "pushed" and lead.zoho_lead_id in fake_zoho.leads


def test_the_fake_on_a_socket_expires_tokens_on_request(org_a, settings, redis_keys) -> None:
    with FakeZohoServer() as server:
        settings.ZOHO_ACCOUNTS_URL = settings.ZOHO_API_URL = server.url
        configure(org_a)
        push(org_a, new_lead(org_a))
        httpx.post(f"{server.url}/_fake/expire")
        assert push(org_a, new_lead(org_a)).zoho_push_status == "pushed"
        calls = httpx.get(f"{server.url}/_fake/requests").json()["data"]
    assert [c["status"] for c in calls] == [200, 201, 401, 200, 201]


def test_the_token_is_cached_and_bought_again_once_when_it_expires_mid_run(
        fake_zoho, org_a) -> None:
    configure(org_a)
    first, second, third = (new_lead(org_a) for _ in range(3))
    push(org_a, first)
    push(org_a, second)
    assert len(fake_zoho.token_calls()) == 1  # the second push reused the cached token
    fake_zoho.expire_tokens()
    assert push(org_a, third).zoho_push_status == "pushed"
    assert len(fake_zoho.token_calls()) == 2
    assert [c.status for c in fake_zoho.lead_calls()] == [201, 201, 401, 201]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_pushes_refresh_an_expired_token_once(fake_zoho, org_a) -> None:
    configure(org_a)
    push(org_a, new_lead(org_a))
    fake_zoho.expire_tokens()
    leads = [new_lead(org_a) for _ in range(2)]
    both_refused = threading.Event()

    def hold_the_refresh(call: Call) -> None:
        """The refresh is answered only once both pushes sent the expired token."""
        if call.path.endswith("/oauth/v2/token"):
            both_refused.wait(10)
        elif len(fake_zoho.lead_calls()) == 3:
            both_refused.set()

    fake_zoho.before_answer = hold_the_refresh
    outcomes: list[str] = []

    def run(lead: Lead) -> None:
        try:
            outcomes.append(push(org_a, lead).zoho_push_status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(lead,)) for lead in leads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["pushed", "pushed"] and both_refused.is_set()
    assert len(fake_zoho.token_calls()) == 2  # the first push's, then one for both


def test_a_revoked_refresh_token_marks_zoho_broken_and_leads_wait_for_new_credentials(
        fake_zoho, org_a, eager, django_capture_on_commit_callbacks) -> None:
    configure(org_a)
    fake_zoho.revoke(REFRESH)
    lead = new_lead(org_a)
    with pytest.raises(Broken):
        push(org_a, lead)
    row = status_of(org_a)
    assert row.status == "broken" and "invalid_code" in row.status_reason
    assert stored(org_a, lead).zoho_push_status == "waiting"
    shown = client_for(staff(org_a)).get("/api/v1/integrations/zoho/").json()
    assert shown["status"] == "broken" and "refresh token" in shown["status_reason"]
    calls = len(fake_zoho.calls)
    with tenant_context(org_a):
        later = LeadFactory(zoho_lead_id="local-later")
        services.push_later(later)
    assert stored(org_a, later).zoho_push_status == "waiting" and len(fake_zoho.calls) == calls
    with django_capture_on_commit_callbacks(execute=True):
        configure(org_a, refresh_token="1000.new-grant")
    assert {stored(org_a, x).zoho_push_status for x in (lead, later)} == {"pushed"}


@pytest.fixture
def eager_retries(eager: None) -> Iterator[None]:
    """Eager tasks whose retries run at once (an eager task that propagates errors cannot retry)."""
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_eager_propagates = True


def test_a_push_is_retried_with_backoff_then_given_up(fake_zoho, org_a, eager_retries, settings,
                                                      django_capture_on_commit_callbacks) -> None:
    configure(org_a)
    settings.ZOHO_PUSH_RETRIES = 2
    fake_zoho.fail(503, times=2)
    with tenant_context(org_a), django_capture_on_commit_callbacks(execute=True):
        lead = LeadFactory(zoho_lead_id="local-1")
        services.push_later(lead)
    assert stored(org_a, lead).zoho_push_status == "pushed"
    assert [c.status for c in fake_zoho.lead_calls()] == [503, 503, 201]
    fake_zoho.fail(503, times=5)
    with tenant_context(org_a), django_capture_on_commit_callbacks(execute=True):
        unlucky = LeadFactory(zoho_lead_id="local-2")
        services.push_later(unlucky)
    unlucky = stored(org_a, unlucky)
    assert unlucky.zoho_push_status == "failed" and "retries spent" in unlucky.zoho_push_error


def test_the_hand_push_answers_with_zohos_outcome(fake_zoho, org_a) -> None:
    api = client_for(staff(org_a))
    lead = new_lead(org_a)
    answer = api.post(f"{URL}{lead.pk}/push/")
    assert answer.status_code == 400 and "PUT /api/v1/integrations/zoho/" in answer.json()["detail"]
    configure(org_a)
    answer = api.post(f"{URL}{lead.pk}/push/")
    assert answer.status_code == 200 and answer.json()["zoho_lead_id"] in fake_zoho.leads
    again = api.post(f"{URL}{lead.pk}/push/")
    assert again.status_code == 409 and "already" in again.json()["detail"]
    fake_zoho.fail(400)
    refused = api.post(f"{URL}{new_lead(org_a).pk}/push/")
    assert refused.status_code == 400 and "refused the lead" in refused.json()["detail"]
    assert api.post(f"{URL}not-an-id/push/").status_code == 404


def test_a_lead_is_pushed_by_one_push_at_a_time(fake_zoho, org_a) -> None:
    configure(org_a)
    lead = new_lead(org_a)
    held = shared_state.connection().lock(shared_state.key("zoho", org_a.pk, "lead", lead.pk))
    assert held.acquire(blocking=False)
    try:
        answer = client_for(staff(org_a)).post(f"{URL}{lead.pk}/push/")
    finally:
        held.release()
    assert answer.status_code == 202 and "being pushed" in answer.json()["detail"]
    assert fake_zoho.calls == [] and stored(org_a, lead).zoho_push_status == "queued"


def test_zoho_unreachable_is_unavailable(org_a, redis_keys) -> None:
    configure(org_a)
    with pytest.raises(Unavailable), tenant_context(org_a):
        services.push_lead(LeadFactory())  # tests' ZOHO_*_URL: nothing listens there
    with tenant_context(org_a):
        assert ZohoPayloadLog.objects.get().status == "unavailable"


def test_no_token_or_secret_in_logs_payload_logs_or_answers(fake_zoho, org_a, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    configure(org_a)
    api = client_for(staff(org_a))
    lead = new_lead(org_a)
    push(org_a, lead)
    fake_zoho.expire_tokens()
    push(org_a, new_lead(org_a))
    fake_zoho.revoke()
    fake_zoho.expire_tokens()
    with pytest.raises(Broken):
        push(org_a, new_lead(org_a))
    issued = [c.answer["access_token"] for c in fake_zoho.token_calls()
              if "access_token" in c.answer]
    assert len(issued) == 2
    with tenant_context(org_a):
        rows = json.dumps(list(ZohoPayloadLog.objects.values()), default=str)
    answers = "".join(api.get(url).content.decode() for url in (
        "/api/v1/zoho-payload-logs/", URL, "/api/v1/integrations/zoho/"))
    for secret in (REFRESH, CLIENT_SECRET, *issued):
        assert secret not in rows and secret not in caplog.text and secret not in answers


def test_the_integration_test_call_buys_a_token_and_says_why_not(fake_zoho, org_a) -> None:
    api = client_for(staff(org_a))
    body = {"client_id": "1000.CLIENT", "client_secret": CLIENT_SECRET, "refresh_token": REFRESH,
            "domain": "zoho.in"}
    assert api.put("/api/v1/integrations/zoho/", body, format="json").status_code == 200
    assert api.post("/api/v1/integrations/zoho/test/").json()["status"] == "ok"
    assert len(fake_zoho.token_calls()) == 1
    fake_zoho.revoke()
    answer = api.post("/api/v1/integrations/zoho/test/").json()
    assert answer["status"] == "broken" and "invalid_code" in answer["status_reason"]
    api.put("/api/v1/integrations/zoho/", {**body, "domain": "example.com"}, format="json")
    answer = api.post("/api/v1/integrations/zoho/test/").json()
    assert answer["status"] == "broken" and "zoho.in" in answer["status_reason"]
    page = signed_in(make_staff(org_a, Role.ORG_ADMIN)).get(
        admin_url(IntegrationCredential)).content.decode()
    assert "not a Zoho data centre" in page and CLIENT_SECRET not in page


# -- automation ----------------------------------------------------------------------------------


def test_a_flows_lead_is_pushed_and_the_push_lead_action_pushes_the_latest(
        fake_zoho, org_a, eager, django_capture_on_commit_callbacks) -> None:
    with pytest.raises(InvalidRule, match="not configured"), tenant_context(org_a):
        actions.check([{"type": "push_lead"}])
    configure(org_a)
    with tenant_context(org_a):
        assert actions.check([{"type": "push_lead"}])
        with pytest.raises(InvalidRule, match="unknown field"):
            actions.check([{"type": "push_lead", "to": "x"}])
        customer = CustomerFactory(name="Meena Iyer")
        with django_capture_on_commit_callbacks(execute=True):
            lead = create_lead(customer, {"treatment": "Acne", "city": "Chennai"}, "flow-1")
        assert Lead.objects.get(pk=lead.pk).zoho_push_status == "pushed"
        other = CustomerFactory()
        old = LeadFactory(customer=other, zoho_lead_id="local-old",
                          created_at=timezone.now() - timedelta(days=2))
        rule = AutomationRuleFactory(actions=[{"type": "push_lead"}])
        inbound = Inbound(MessageFactory(customer=other), other, org_a, timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            actions.perform(rule, {"type": "push_lead"}, inbound)
        assert Lead.objects.get(pk=old.pk).zoho_push_status == "pushed"
        newcomer = CustomerFactory()
        inbound = Inbound(MessageFactory(customer=newcomer), newcomer, org_a, timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            actions.perform(rule, {"type": "push_lead"}, inbound)
        created = Lead.objects.get(customer=newcomer)
        assert created.zoho_push_status == "pushed" and created.zoho_lead_id in fake_zoho.leads


def test_the_push_lead_action_without_zoho_stops_the_rule(org_a) -> None:
    with tenant_context(org_a):
        customer = CustomerFactory()
        rule = AutomationRuleFactory()
        inbound = Inbound(MessageFactory(customer=customer), customer, org_a, timezone.now())
        with pytest.raises(NotAllowed, match="not configured"):
            actions.perform(rule, {"type": "push_lead"}, inbound)


# -- isolation -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("python_scope")
def test_pushes_and_their_logs_stay_in_their_organization(fake_zoho, org_a, org_b) -> None:
    configure(org_a)
    theirs = new_lead(org_b)
    mine = new_lead(org_a)
    api = client_for(staff(org_a))
    assert api.post(f"{URL}{theirs.pk}/push/").status_code == 404
    assert api.post(f"{URL}{mine.pk}/push/").status_code == 200
    with tenant_context(org_b):
        assert not ZohoPayloadLog.objects.exists()
        assert Lead.objects.get(pk=theirs.pk).zoho_push_status is None
        with pytest.raises(NotConfigured):
            services.push_lead(theirs)
    logs_b = client_for(staff(org_b)).get("/api/v1/zoho-payload-logs/").json()
    assert logs_b["results"] == []
    assert len(fake_zoho.lead_calls()) == 1
