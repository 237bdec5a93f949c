"""The inbox's conversation shows the customer's orders; an agent creates one and sends its
payment link from there, and the order turns paid after Razorpay's signed event."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from bench.fake_graph import FakeGraph
from bench.fake_razorpay import FakeRazorpay
from crm.models import Customer, Order, Organization, Role
from tenancy.context import tenant_context
from tests.factories import OrderFactory, WhatsAppNumberFactory
from tests.inbox_support import conversation
from tests.test_admin_support import make_staff, signed_in
from tests.test_payments import configure, deliver


@pytest.fixture
def customer(org_a: Organization) -> Customer:
    with tenant_context(org_a):
        WhatsAppNumberFactory()
    return conversation(org_a, "Asha", at=timezone.now() - timedelta(minutes=10))


@pytest.fixture
def agent(org_a: Organization) -> Client:
    client = signed_in(make_staff(org_a, Role.AGENT))
    client.defaults["HTTP_HX_REQUEST"] = "true"
    return client


def test_an_agent_creates_an_order_sends_the_link_and_sees_it_paid(
    org_a: Organization, customer: Customer, agent: Client, fake_razorpay: FakeRazorpay,
    fake_graph: FakeGraph,
) -> None:
    configure(org_a, fake_razorpay)
    base = f"/inbox/{customer.pk}/"
    page = agent.post(base + "orders/", {"name": "Consultation", "unit_price": "500",
                                         "quantity": "2"})
    assert page.status_code == 200 and "Order created." in page.content.decode()
    with tenant_context(org_a):
        order = Order.objects.get(customer=customer)
    assert order.total_amount == Decimal("1000.00") and "INR 1000.00" in page.content.decode()
    page = agent.post(f"{base}orders/{order.pk}/payment-link/")
    assert "Payment link sent." in page.content.decode()
    link_id = next(iter(fake_razorpay.links))
    assert fake_razorpay.links[link_id]["short_url"] in str(fake_graph.sent()[0].body)
    fake_razorpay.pay(link_id)
    assert deliver(org_a, fake_razorpay.event("payment_link.paid", link_id)).status_code == 200
    thread = agent.get(base + "thread/").content.decode()
    assert 'data-status="paid"' in thread


@pytest.mark.parametrize(("form", "field"), [
    ({"name": "", "unit_price": "5"}, "name"), ({"name": "x", "unit_price": "abc"}, "unit_price"),
    ({"name": "x", "unit_price": "5", "quantity": "0"}, "quantity"),
    ({"product": "not-a-key"}, "product"),
])
def test_a_bad_order_form_is_400_naming_the_field(customer: Customer, agent: Client,
                                                  form: dict, field: str) -> None:
    answer = agent.post(f"/inbox/{customer.pk}/orders/", form)
    assert answer.status_code == 400 and answer.content.decode().startswith(field)


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_order_or_customer_is_404(
    org_a: Organization, org_b: Organization, customer: Customer, agent: Client
) -> None:
    with tenant_context(org_b):
        theirs = OrderFactory(total_amount=Decimal("10"))
    assert agent.post(f"/inbox/{customer.pk}/orders/{theirs.pk}/payment-link/").status_code == 404
    assert agent.post(f"/inbox/{theirs.customer_id}/orders/",
                      {"name": "x", "unit_price": "5"}).status_code == 404
