"""POST /api/v1/customers/<id>/send/ and /read/: roles, answers, refusals and isolation."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.models import Customer, Message, Organization, Role, WhatsAppApiLog, WhatsAppNumber
from tenancy.context import tenant_context
from tests.factories import CustomerFactory, MessageFactory, WhatsAppNumberFactory
from tests.test_api import client_for, staff

TEXT = {"type": "text", "text": {"body": "Your order is ready"}}


@pytest.fixture
def number(org_a: Organization) -> WhatsAppNumber:
    with tenant_context(org_a):
        return WhatsAppNumberFactory(access_token="TOKEN-A-secret")


@pytest.fixture
def customer(org_a: Organization, number: WhatsAppNumber) -> Customer:
    with tenant_context(org_a):
        customer = CustomerFactory()
        MessageFactory(customer=customer, message_id="wamid.IN-1",
                       timestamp=timezone.now() - timedelta(minutes=5))
    return customer


def url(customer: Customer, what: str = "send") -> str:
    return f"/api/v1/customers/{customer.pk}/{what}/"


@pytest.mark.parametrize("role", [Role.AGENT, Role.ORG_ADMIN])
def test_staff_send_and_get_the_stored_message(
    fake_graph: FakeGraph, org_a: Organization, customer: Customer, role: str
) -> None:
    response = client_for(staff(org_a, role)).post(
        url(customer), {**TEXT, "reply_to": "wamid.IN-1"}, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["message_id"].startswith("wamid.FAKE") and data["delivery_status"] == "sent"
    assert data["body"] == "Your order is ready" and data["customer"] == str(customer.pk)
    assert fake_graph.sent()[0].body["context"] == {"message_id": "wamid.IN-1"}
    with tenant_context(org_a):
        log = WhatsAppApiLog.objects.get()
    assert log.whatsapp_message_id == data["message_id"]
    assert "TOKEN-A-secret" not in str(log.__dict__)


def test_the_api_log_shows_no_token(
    fake_graph: FakeGraph, org_a: Organization, customer: Customer
) -> None:
    admin = client_for(staff(org_a, Role.ORG_ADMIN))
    admin.post(url(customer), TEXT, format="json")
    listed = admin.get("/api/v1/whatsapp-api-logs/")
    assert listed.status_code == 200 and listed.json()["count"] == 1
    assert "TOKEN-A-secret" not in listed.content.decode()


def test_outside_the_window_is_409_with_the_closing_time(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber
) -> None:
    with tenant_context(org_a):
        customer = CustomerFactory()
        MessageFactory(customer=customer, timestamp=timezone.now() - timedelta(days=2))
    response = client_for(staff(org_a)).post(url(customer), TEXT, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "outside_window"
    assert response.json()["window_closed_at"] and fake_graph.calls == []


@pytest.mark.parametrize("body", [
    {"type": "text"},
    {"type": "text", "text": {"body": "secret words " * 400}},
    {"type": "image", "image": {"id": "1", "link": "https://e.com/x.png"}},
    {"type": "nope"},
    ["not", "an", "object"],
])
def test_malformed_messages_are_400_naming_the_field_without_echoing_it(
    fake_graph: FakeGraph, org_a: Organization, customer: Customer, body: object
) -> None:
    response = client_for(staff(org_a)).post(url(customer), body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] and "secret words" not in response.content.decode()
    assert fake_graph.calls == []


def test_meta_refusal_answers_meta_s_code_and_keeps_the_failed_message(
    fake_graph: FakeGraph, org_a: Organization, customer: Customer
) -> None:
    fake_graph.fail(131026, message="(fake) Message undeliverable")
    response = client_for(staff(org_a)).post(url(customer), TEXT, format="json")
    assert response.status_code == 422
    data = response.json()
    assert data["meta"]["code"] == 131026 and data["meta"]["action"] == "fail"
    assert data["message"]["delivery_status"] == "failed" and data["message"]["error_code"]
    fake_graph.fail(130429, times=5)
    assert client_for(staff(org_a)).post(url(customer), TEXT, format="json").status_code == 429
    with tenant_context(org_a):
        assert Message.objects.filter(delivery_status="failed").count() == 2


def test_another_organization_s_customer_or_number_is_404(
    fake_graph: FakeGraph, org_a: Organization, org_b: Organization, customer: Customer
) -> None:
    with tenant_context(org_b):
        their_number = WhatsAppNumberFactory()
        their_customer = CustomerFactory()
    client = client_for(staff(org_a))
    assert client.post(url(their_customer), TEXT, format="json").status_code == 404
    assert client.post(url(their_customer, "read")).status_code == 404
    response = client.post(url(customer), {**TEXT, "from_number": their_number.phone_number_id},
                           format="json")
    assert response.status_code == 404 and response.json()["field"] == "from_number"
    assert fake_graph.calls == []


def test_read_marks_the_conversation_read(
    fake_graph: FakeGraph, org_a: Organization, customer: Customer
) -> None:
    response = client_for(staff(org_a)).post(url(customer, "read"))
    assert response.status_code == 200
    assert response.json() == {"marked_read": 1, "message_id": "wamid.IN-1"}
    assert fake_graph.calls[0].body["status"] == "read"


def test_send_is_in_the_openapi_schema(org_a: Organization) -> None:
    schema = client_for(staff(org_a)).get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/customers/{id}/send/"]["post"]
    assert "201" in operation["responses"] and "409" in operation["responses"]
    assert "WhatsAppTemplateComponent" in schema["components"]["schemas"]
    assert set(operation["requestBody"]["content"]) == {"application/json"}


def test_recording_a_message_fills_its_time_and_wa_ids(
    org_a: Organization, customer: Customer, number: WhatsAppNumber
) -> None:
    api = client_for(staff(org_a, Role.AGENT))
    inbound = api.post("/api/v1/messages/", {
        "customer": str(customer.pk), "type": "text", "body": "Called the clinic",
        "sender_type": "customer"}, format="json").json()
    business = "".join(c for c in number.display_number if c.isdigit())
    assert inbound["timestamp"] and inbound["from_wa_id"] == customer.wa_id
    assert inbound["to_wa_id"] == business
    outbound = api.post("/api/v1/messages/", {"customer": str(customer.pk), "type": "text",
                                              "body": "Noted", "sender_type": "agent",
                                              "timestamp": "2026-01-02T03:04:05Z"},
                        format="json").json()
    assert (outbound["from_wa_id"], outbound["to_wa_id"]) == (business, customer.wa_id)
    assert outbound["timestamp"].startswith("2026-01-02T03:04:05")
