"""Replying from the admin: the form on the customer's page sends through crm.whatsapp.send."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.admin.scoping import ALL
from crm.models import Customer, Message, Organization, Role
from tenancy.context import tenant_context
from tests.factories import CustomerFactory, MessageFactory, WhatsAppNumberFactory
from tests.test_admin_support import admin_url, make_staff, signed_in


def _customer(org: Organization, hours_ago: int = 1) -> Customer:
    with tenant_context(org):
        WhatsAppNumberFactory()
        customer = CustomerFactory()
        MessageFactory(customer=customer, timestamp=timezone.now() - timedelta(hours=hours_ago))
    return customer


def _reply_url(customer: Customer) -> str:
    return admin_url(Customer, "change", customer).replace("/change/", "/reply/")


def _sent(org: Organization) -> list[Message]:
    with tenant_context(org):
        return list(Message.objects.filter(sender_type="agent"))


def test_an_agent_replies_from_the_customer_s_page(
    fake_graph: FakeGraph, org_a: Organization
) -> None:
    customer = _customer(org_a)
    client = signed_in(make_staff(org_a, Role.AGENT))
    page = client.get(admin_url(Customer, "change", customer))
    assert page.status_code == 200 and b"Reply on WhatsApp" in page.content
    response = client.post(_reply_url(customer), {"text": "On its way!"}, follow=True)
    assert response.redirect_chain[-1][0].endswith(admin_url(Customer, "change", customer))
    assert b"Sent to" in response.content
    [sent] = _sent(org_a)
    assert sent.body == "On its way!" and sent.message_id.startswith("wamid.FAKE")
    assert fake_graph.sent()[0].body["to"] == customer.wa_id


def test_refusals_are_shown_not_sent(fake_graph: FakeGraph, org_a: Organization) -> None:
    customer = _customer(org_a, hours_ago=30)
    client = signed_in(make_staff(org_a, Role.AGENT))
    response = client.post(_reply_url(customer), {"text": "Hello?"}, follow=True)
    assert b"24-hour customer service window closed" in response.content
    response = client.post(_reply_url(customer), {"text": "a", "template": "b"}, follow=True)
    assert b"one of the two" in response.content
    assert _sent(org_a) == [] and fake_graph.calls == []
    client.post(_reply_url(customer), {"template": "order_ready", "language": "en"})
    assert [m.type for m in _sent(org_a)] == ["template"]


def test_another_organization_s_customer_is_404(
    fake_graph: FakeGraph, org_a: Organization, org_b: Organization
) -> None:
    theirs = _customer(org_b)
    client = signed_in(make_staff(org_a, Role.AGENT))
    assert client.post(_reply_url(theirs), {"text": "hi"}).status_code == 404
    assert client.get(_reply_url(_customer(org_a))).status_code == 404  # POST only
    assert _sent(org_b) == [] and fake_graph.calls == []


def test_platform_staff_reply_in_all_organizations_mode(
    fake_graph: FakeGraph, org_b: Organization
) -> None:
    customer = _customer(org_b)
    client = signed_in(make_staff(None, Role.SUPER_ADMIN), ALL)
    client.post(_reply_url(customer), {"text": "From the platform team"})
    assert [m.body for m in _sent(org_b)] == ["From the platform team"]
