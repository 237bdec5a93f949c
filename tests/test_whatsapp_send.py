"""send_message and mark_read on the fake Graph API: types, window, numbers, failures, opt-out."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test.utils import override_settings
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.models import Customer, Message, Organization, WhatsAppApiLog, WhatsAppNumber
from crm.whatsapp.reading import mark_read
from crm.whatsapp.refusals import MetaRefused, Refused
from crm.whatsapp.schemas import MESSAGE_TYPES
from crm.whatsapp.send import send_message, window_closes_at
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import CustomerFactory, MessageFactory, TemplateFactory, WhatsAppNumberFactory
from tests.test_webhook import post
from tests.test_whatsapp_schemas import CONTENTS

TEXT = {"type": "text", "text": {"body": "Your order is ready"}}
TEMPLATE = {"type": "template", "template": {"name": "spring_sale", "language": {"code": "en"}}}


@pytest.fixture
def number(in_a: Organization) -> WhatsAppNumber:
    return WhatsAppNumberFactory(display_number="+91 80000 11111", access_token="TOKEN-A-secret")


@pytest.fixture
def customer(number: WhatsAppNumber) -> Customer:
    """A customer of A who wrote an hour ago (the window is open)."""
    customer = CustomerFactory()
    MessageFactory(customer=customer, message_id="wamid.IN-1", to_wa_id="918000011111",
                   timestamp=timezone.now() - timedelta(hours=1))
    return customer


def refusal(call: Any) -> Refused:
    with pytest.raises(Refused) as raised:
        call()
    return raised.value


@pytest.mark.parametrize("kind", MESSAGE_TYPES)
def test_every_type_is_sent_and_stored_with_meta_s_wamid(
    fake_graph: FakeGraph, customer: Customer, number: WhatsAppNumber, kind: str
) -> None:
    message = send_message(customer, {"type": kind, **CONTENTS[kind]})
    sent = fake_graph.sent()
    assert len(sent) == 1 and sent[0].body["type"] == kind and sent[0].body[kind]
    assert sent[0].path.endswith(f"/{number.phone_number_id}/messages")
    stored = Message.objects.get(pk=message.pk)
    assert stored.message_id.startswith("wamid.FAKE") and stored.delivery_status == "sent"
    assert stored.sender_type == "agent" and stored.type == kind
    assert stored.to_wa_id == customer.wa_id and stored.from_wa_id == "918000011111"
    assert stored.raw_message == sent[0].body
    customer.refresh_from_db()
    assert customer.last_message_type == kind and customer.last_message_at == stored.timestamp


def test_stored_columns_show_what_was_sent(fake_graph: FakeGraph, customer: Customer) -> None:
    text = send_message(customer, TEXT)
    image = send_message(customer, {"type": "image", **CONTENTS["image"]})
    place = send_message(customer, {"type": "location", **CONTENTS["location"]})
    assert text.body == "Your order is ready"
    assert (image.media_id, image.caption) == ("1234567890", "our menu")
    assert (place.latitude, place.longitude, place.body) == (12.97, 77.59, "Clinic")


def test_a_reply_quotes_a_message_of_the_conversation(
    fake_graph: FakeGraph, customer: Customer
) -> None:
    send_message(customer, TEXT, reply_to="wamid.IN-1")
    assert fake_graph.sent()[0].body["context"] == {"message_id": "wamid.IN-1"}
    other = MessageFactory(message_id="wamid.OTHER")  # another customer's conversation
    refused = refusal(lambda: send_message(customer, TEXT, reply_to=other.message_id))
    assert (refused.status, refused.field) == (400, "reply_to")


def test_outside_the_window_free_form_is_refused_before_calling_meta(
    fake_graph: FakeGraph, number: WhatsAppNumber
) -> None:
    customer = CustomerFactory()
    wrote = timezone.now() - timedelta(hours=25)
    MessageFactory(customer=customer, timestamp=wrote)
    refused = refusal(lambda: send_message(customer, TEXT))
    assert refused.status == 409 and refused.code == "outside_window"
    assert refused.extra["window_closed_at"] == (wrote + timedelta(hours=24)).isoformat()
    assert "only a template" in refused.detail
    assert fake_graph.calls == [] and not Message.objects.filter(sender_type="agent").exists()
    send_message(customer, TEMPLATE)  # templates always go through
    assert len(fake_graph.sent()) == 1


def test_a_customer_who_never_wrote_gets_templates_only(
    fake_graph: FakeGraph, number: WhatsAppNumber
) -> None:
    customer = CustomerFactory()
    assert window_closes_at(customer) is None
    assert "never opened" in refusal(lambda: send_message(customer, TEXT)).detail
    # Our own messages do not open the window: only the customer's do.
    send_message(customer, TEMPLATE)
    assert refusal(lambda: send_message(customer, TEXT)).code == "outside_window"


@pytest.mark.parametrize(("code", "status"), [
    (131026, 422), (132001, 422), (100, 422), (130429, 429), (131056, 429), (131047, 409),
    (131050, 409), (190, 502), (131048, 502), (368, 502), (131000, 502),
])
def test_meta_refusals_are_stored_as_failed_with_meta_s_code(
    fake_graph: FakeGraph, customer: Customer, code: int, status: int, settings: Any
) -> None:
    settings.WHATSAPP_GRAPH_RETRIES = 0
    fake_graph.fail(code, message="(fake) no")
    with pytest.raises(MetaRefused) as raised:
        send_message(customer, TEXT)
    refused = raised.value
    assert refused.status == status and refused.as_json()["meta"]["code"] == code
    failed = Message.objects.get(pk=refused.message.pk)
    assert failed.delivery_status == "failed" and failed.error_code == code
    assert failed.message_id is None and failed.body == "Your order is ready"
    assert WhatsAppApiLog.objects.get().error_code == str(code)


def test_numbers_another_organization_s_inactive_or_none(
    fake_graph: FakeGraph, customer: Customer, org_b: Organization
) -> None:
    with tenant_context(org_b):
        theirs = WhatsAppNumberFactory()
    for key in (theirs.phone_number_id, str(theirs.pk), theirs):
        refused = refusal(lambda key=key: send_message(customer, TEXT, from_number=key))
        assert (refused.status, refused.field) == (404, "from_number")
    off = WhatsAppNumberFactory(is_active=False)
    assert refusal(lambda: send_message(customer, TEXT, from_number=off.phone_number_id)
                   ).status == 400
    WhatsAppNumber.objects.update(is_active=False)
    assert refusal(lambda: send_message(customer, TEXT)).code == "no_number"
    assert fake_graph.calls == []


def test_another_organization_s_customer_is_not_found(
    fake_graph: FakeGraph, number: WhatsAppNumber, org_b: Organization
) -> None:
    with tenant_context(org_b):
        theirs = CustomerFactory()
    assert refusal(lambda: send_message(theirs, TEXT)).status == 404
    assert fake_graph.calls == []


def test_the_default_number_is_the_one_the_customer_wrote_to(
    fake_graph: FakeGraph, customer: Customer, number: WhatsAppNumber
) -> None:
    other = WhatsAppNumberFactory(display_number="+91 80000 22222")
    MessageFactory(customer=customer, to_wa_id="918000022222")
    send_message(customer, TEXT)
    assert fake_graph.sent()[-1].path.endswith(f"/{other.phone_number_id}/messages")
    send_message(customer, TEXT, from_number=number.phone_number_id)
    assert fake_graph.sent()[-1].path.endswith(f"/{number.phone_number_id}/messages")
    loner = CustomerFactory()
    MessageFactory(customer=loner, to_wa_id="910000000000")  # a number no longer ours
    send_message(loner, TEXT)
    assert fake_graph.sent()[-1].path.endswith(f"/{number.phone_number_id}/messages")


# --- opt-out -------------------------------------------------------------------------------


def test_marketing_templates_are_refused_to_opted_out_customers(
    fake_graph: FakeGraph, customer: Customer
) -> None:
    TemplateFactory(template_name="spring_sale", language="en",
                    template_body={"category": "MARKETING"})
    TemplateFactory(template_name="order_ready", language="en",
                    template_body={"category": "UTILITY"})
    Customer.objects.filter(pk=customer.pk).update(marketing_opt_out_at=timezone.now())
    customer.refresh_from_db()
    refused = refusal(lambda: send_message(customer, TEMPLATE))
    assert refused.code == "opted_out" and refused.status == 409
    assert refusal(lambda: send_message(customer, {**TEMPLATE, "template": {
        "name": "anything", "language": {"code": "en"}}}, category="marketing")).code == \
        "opted_out"
    utility = {"type": "template", "template": {"name": "order_ready",
                                                "language": {"code": "en"}}}
    send_message(customer, utility)
    send_message(customer, TEXT)  # opting out of marketing does not stop the conversation
    assert len(fake_graph.sent()) == 2


def test_meta_s_131050_on_send_opts_the_customer_out(
    fake_graph: FakeGraph, customer: Customer
) -> None:
    fake_graph.fail(131050)
    with pytest.raises(MetaRefused):
        send_message(customer, TEMPLATE)
    customer.refresh_from_db()
    assert customer.marketing_opt_out_at is not None


@pytest.fixture
def webhook_number(org_a: Organization) -> WhatsAppNumber:
    with tenant_context(org_a):
        return WhatsAppNumberFactory(phone_number_id="106540352242922",
                                     display_number="+1 555-000 1111")


def _deliver(*items: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> None:
    change = wp.change("106540352242922", "15550001111", messages=list(items) or None,
                       statuses=statuses)
    with override_settings(WHATSAPP_APP_SECRET=wp.SECRET):
        assert post(wp.delivery(wp.entry(change))).status_code == 200


def _opted_out(org: Organization, wa_id: str) -> bool:
    with tenant_context(org):
        return Customer.objects.get(wa_id=wa_id).marketing_opt_out_at is not None


def test_inbound_stop_opts_out_and_start_opts_back_in(
    webhook_number: WhatsAppNumber, org_a: Organization
) -> None:
    _deliver(wp.text("919812345678", "  stop "))
    assert _opted_out(org_a, "919812345678")
    _deliver(wp.text("919812345678", "please stop sending"))  # not the keyword alone
    assert _opted_out(org_a, "919812345678")
    _deliver(wp.text("919812345678", "START"))
    assert not _opted_out(org_a, "919812345678")
    _deliver(wp.text("919812345678", "Start", timestamp=wp.ts(5)),
             wp.text("919812345678", "STOP", timestamp=wp.ts(9)))  # the latest word wins
    assert _opted_out(org_a, "919812345678")


def test_a_failed_status_with_131050_opts_out(
    webhook_number: WhatsAppNumber, org_a: Organization
) -> None:
    with tenant_context(org_a):
        sent = MessageFactory(message_id="wamid.OURS", sender_type="agent",
                              customer=CustomerFactory(wa_id="919800000001"))
    _deliver(statuses=[wp.status("wamid.OURS", "failed", "919800000001",
                                 errors=wp.failure(131050, "User stopped marketing"))])
    assert _opted_out(org_a, "919800000001")
    with tenant_context(org_a):
        sent.refresh_from_db()
    assert (sent.delivery_status, sent.error_code) == ("failed", 131050)


def test_sent_message_moves_forward_with_status_webhooks(
    fake_graph: FakeGraph, webhook_number: WhatsAppNumber, org_a: Organization
) -> None:
    with tenant_context(org_a):
        customer = CustomerFactory(wa_id="919811111111")
        MessageFactory(customer=customer, to_wa_id="15550001111")
        sent = send_message(customer, TEXT, from_number=webhook_number)
    for state in ("delivered", "read"):
        _deliver(statuses=[wp.status(sent.message_id, state, customer.wa_id)])
        with tenant_context(org_a):
            assert Message.objects.get(pk=sent.pk).delivery_status == state


def test_a_status_that_comes_before_its_message_is_applied_once_it_is_stored(
    fake_graph: FakeGraph, webhook_number: WhatsAppNumber, org_a: Organization, org_b: Organization,
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any,
) -> None:
    """Meta's webhook can beat the send's own answer: the status waits for its message."""
    monkeypatch.setattr(fake_graph, "new_wamid", lambda: "wamid.EARLY")
    with tenant_context(org_b):  # B's number reports the same wamid: kept for B, never for A
        WhatsAppNumberFactory(phone_number_id="106540352242999", display_number="+1 555-000 9999")
    change = wp.change("106540352242999", "15550009999",
                       statuses=[wp.status("wamid.EARLY", "read", "919811111112")])
    with override_settings(WHATSAPP_APP_SECRET=wp.SECRET):
        assert post(wp.delivery(wp.entry(change))).status_code == 200
    _deliver(statuses=[wp.status("wamid.EARLY", "delivered", "919811111112")])
    with tenant_context(org_a):
        customer = CustomerFactory(wa_id="919811111112")
        MessageFactory(customer=customer, to_wa_id="15550001111")
        with django_capture_on_commit_callbacks(execute=True):
            sent = send_message(customer, TEXT, from_number=webhook_number)
        assert Message.objects.get(pk=sent.pk).delivery_status == "delivered"  # not B's "read"


# --- mark as read --------------------------------------------------------------------------


def test_mark_read_tells_meta_the_latest_and_marks_every_unread_inbound(
    fake_graph: FakeGraph, customer: Customer
) -> None:
    latest = MessageFactory(customer=customer, message_id="wamid.IN-2")
    MessageFactory(message_id="wamid.ELSEWHERE")  # another customer: untouched
    result = mark_read(customer)
    assert result.marked_read == 2 and result.message_id == latest.message_id
    assert [c.body for c in fake_graph.calls] == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN-2"}]
    assert set(Message.objects.filter(customer=customer).values_list(
        "delivery_status", flat=True)) == {"read"}
    assert Message.objects.get(message_id="wamid.ELSEWHERE").delivery_status is None
    assert mark_read(customer).marked_read == 0 and len(fake_graph.calls) == 1


def test_mark_read_refused_by_meta(fake_graph: FakeGraph, customer: Customer) -> None:
    fake_graph.fail(190)
    with pytest.raises(MetaRefused) as raised:
        mark_read(customer)
    assert raised.value.status == 502
    assert Message.objects.get(message_id="wamid.IN-1").delivery_status is None
