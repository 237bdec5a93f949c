"""What a campaign send leaves behind (a message of the conversation, its logs), and messages
personalised per recipient from the campaign's {{placeholders}}."""
from __future__ import annotations

from typing import Any

import pytest
from django.test.utils import override_settings

from bench.fake_graph import FakeGraph
from crm.campaigns import services
from crm.models import (
    Campaign,
    CampaignLog,
    Customer,
    Job,
    Message,
    Organization,
    WhatsAppApiLog,
)
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.campaign_support import Scenario, scenario
from tests.factories import CampaignRecipientFactory, WhatsAppNumberFactory
from tests.test_webhook import post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "redis_keys")]

PNID, DISPLAY = "106540352242922", "15550001111"  # the number the status webhooks come to
OFFER = {"name": "offers", "language": {"code": "en"}, "components": [
    {"type": "body", "parameters": [{"type": "text", "text": "{{customer_name}}"},
                                    {"type": "text", "text": "{{code}}"}]},
]}


def _run(s: Scenario, capture: Any) -> Job:
    with tenant_context(s.organization), capture(execute=True):
        return services.run_campaign(s.campaign)


def _body_texts(fake: FakeGraph, wa_id: str) -> list[str]:
    (call,) = [c for c in fake.sent() if c.body["to"] == wa_id]
    return [p["text"] for p in call.body["template"]["components"][0]["parameters"]]


def test_each_send_is_a_message_of_its_conversation_that_status_webhooks_move(
    org_a: Organization, org_b: Organization, fake_graph: FakeGraph,
    django_capture_on_commit_callbacks: Any,
) -> None:
    s = scenario(org_a, customers=2, recipients=1, numbers=0)
    with tenant_context(org_a):
        WhatsAppNumberFactory(phone_number_id=PNID, display_number=f"+{DISPLAY}")
    job = _run(s, django_capture_on_commit_callbacks)
    with tenant_context(org_a):
        stored = {m.to_wa_id: m for m in Message.objects.filter(sender_type="campaign")}
        logs = {log.phone_number: log for log in CampaignLog.objects.filter(job=job)}
        assert set(stored) == s.wa_ids
        for wa_id, message in stored.items():
            assert message.message_id == logs[wa_id].whatsapp_message_id  # Meta's wamid
            assert (message.delivery_status, message.from_wa_id) == ("sent", DISPLAY)
            customer = Customer.objects.get(wa_id=wa_id)
            assert customer.last_message_at == message.timestamp
            assert customer.last_message_type == "text"
        api_logs = WhatsAppApiLog.objects.filter(job=job)
        assert api_logs.count() == 3  # one per Graph API call, with no token in it
        assert all(log.request_headers == {"Authorization": "***"} for log in api_logs)
        one = next(iter(stored.values()))
    with override_settings(WHATSAPP_APP_SECRET=wp.SECRET):
        change = wp.change(PNID, DISPLAY, statuses=[wp.status(one.message_id, "delivered",
                                                              one.to_wa_id)])
        assert post(wp.delivery(wp.entry(change))).status_code == 200
    with tenant_context(org_a):
        assert Message.objects.get(pk=one.pk).delivery_status == "delivered"
    with tenant_context(org_b):
        assert not Message.objects.filter(sender_type="campaign").exists()
        assert not CampaignLog.objects.exists()


def test_a_status_that_beat_the_campaigns_own_record_is_applied(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = scenario(org_a, customers=1, recipients=0, numbers=0)
    with tenant_context(org_a):
        WhatsAppNumberFactory(phone_number_id=PNID, display_number=f"+{DISPLAY}")
    monkeypatch.setattr(fake_graph, "new_wamid", lambda: "wamid.CAMPAIGN-EARLY")
    with override_settings(WHATSAPP_APP_SECRET=wp.SECRET):
        change = wp.change(PNID, DISPLAY, statuses=[
            wp.status("wamid.CAMPAIGN-EARLY", "delivered", s.customers[0].wa_id)])
        assert post(wp.delivery(wp.entry(change))).status_code == 200
    _run(s, django_capture_on_commit_callbacks)
    with tenant_context(org_a):
        assert Message.objects.get(message_id="wamid.CAMPAIGN-EARLY").delivery_status == (
            "delivered")


def test_a_refused_send_is_stored_as_a_failed_message(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
) -> None:
    s = scenario(org_a, customers=2, recipients=0)
    unlucky = s.customers[0]
    fake_graph.fail(131026, to=unlucky.wa_id)  # undeliverable: final, not retried
    _run(s, django_capture_on_commit_callbacks)
    with tenant_context(org_a):
        failed = Message.objects.get(sender_type="campaign", to_wa_id=unlucky.wa_id)
        assert (failed.delivery_status, failed.error_code, failed.message_id) == (
            "failed", 131026, None)
        # Nothing reached the customer: the conversation's last message is unchanged.
        assert Customer.objects.get(pk=unlucky.pk).last_message_at == unlucky.last_message_at


def test_placeholders_are_filled_per_recipient_and_a_missing_value_fails_only_that_one(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
) -> None:
    s = scenario(org_a, customers=1, recipients=0, type=Campaign.Type.TEMPLATE,
                 content={**OFFER, "category": "utility"})
    chosen = s.customers[0]  # a chosen customer has no uploaded params: no {{code}}
    with tenant_context(org_a):
        CampaignRecipientFactory(campaign=s.campaign, phone_number="+91 98000 00001",
                                 name="Asha", params={"code": "ASHA10"})
        bala = CampaignRecipientFactory(campaign=s.campaign, phone_number="919800000002",
                                        name="Bala", params={"code": "BALA20"})
    job = _run(s, django_capture_on_commit_callbacks)
    assert _body_texts(fake_graph, "919800000001") == ["Asha", "ASHA10"]
    assert _body_texts(fake_graph, "919800000002") == ["Bala", "BALA20"]
    assert chosen.wa_id not in {c.body["to"] for c in fake_graph.sent()}
    with tenant_context(org_a):
        row = job.statuses.get(customer=chosen)
        assert row.status == "failure"
        assert row.reason.startswith("no value for {{code}}")
        assert bala.params == {"code": "BALA20"}
        stored = Message.objects.get(to_wa_id="919800000001", sender_type="campaign")
        assert stored.raw_message["template"]["components"][0]["parameters"][1]["text"] == (
            "ASHA10")


def test_list_params_fill_numbered_placeholders(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
) -> None:
    content = {"name": "offers", "language": {"code": "en"}, "category": "utility",
               "components": [{"type": "body", "parameters": [
                   {"type": "text", "text": "{{1}}"}, {"type": "text", "text": "{{2}}"}]}]}
    s = scenario(org_a, customers=0, recipients=0, type=Campaign.Type.TEMPLATE, content=content)
    with tenant_context(org_a):
        CampaignRecipientFactory(campaign=s.campaign, phone_number="919800000003",
                                 params=["Chitra", "12 May"])
    _run(s, django_capture_on_commit_callbacks)
    assert _body_texts(fake_graph, "919800000003") == ["Chitra", "12 May"]


def test_a_customer_both_chosen_and_uploaded_is_sent_once_with_the_uploads_params(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any,
) -> None:
    s = scenario(org_a, customers=1, recipients=0, type=Campaign.Type.TEMPLATE,
                 content={**OFFER, "category": "utility"})
    both = s.customers[0]
    with tenant_context(org_a):
        CampaignRecipientFactory(campaign=s.campaign, phone_number=f"+{both.wa_id}",
                                 params={"code": "BOTH"})
    _run(s, django_capture_on_commit_callbacks)
    assert _body_texts(fake_graph, both.wa_id) == [both.name, "BOTH"]
