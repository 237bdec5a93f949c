"""Orders: created from items with the total computed on the server, moved by the allowed
transitions only (409 otherwise); another organization's customer, order or address is out of
reach, with PostgreSQL's policies alone too."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from crm.models import Customer, Order, Organization, Product, Role
from crm.orders import services, states
from tenancy.context import tenant_context, unscoped
from tests.factories import CustomerAddressFactory, CustomerFactory, OrderFactory, ProductFactory
from tests.test_api import client_for, staff


@pytest.fixture
def customer(org_a: Organization) -> Customer:
    with tenant_context(org_a):
        return CustomerFactory()


@pytest.fixture
def product(db: None) -> Product:
    with unscoped():  # the shared catalog
        return ProductFactory(price=249.5)


@pytest.fixture
def agent(org_a: Organization) -> Any:
    return client_for(staff(org_a, Role.AGENT))


def test_the_server_computes_the_total(agent: Any, customer: Customer, product: Product,
                                       org_a: Organization) -> None:
    answer = agent.post("/api/v1/orders/", {"customer": str(customer.pk), "items": [
        {"product": str(product.pk), "quantity": 2},
        {"name": "Consultation", "quantity": 1, "unit_price": 500, "total": 1}]},
        format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["status"] == "pending" and body["currency"] == "INR"
    assert Decimal(body["total_amount"]) == Decimal("999.00")
    assert [(i["name"], i["quantity"], i["total_price"]) for i in body["items"]] == [
        (product.name, 2, 499.0), ("Consultation", 1, 500.0)]
    with tenant_context(org_a):
        assert Order.objects.get(pk=body["id"]).total_amount == Decimal("999.00")


@pytest.mark.parametrize(("items", "problem"), [
    ([], "items"),
    ([{"name": "x", "quantity": 1}], "items"),
    ([{"name": "x", "quantity": 0, "unit_price": 5}], "quantity"),
    ([{"name": "x", "unit_price": -5}], "unit_price"),
    ([{"product": "not-a-uuid"}], "product"),
])
def test_bad_items_are_400_naming_the_field(agent: Any, customer: Customer, items: list,
                                            problem: str) -> None:
    answer = agent.post("/api/v1/orders/", {"customer": str(customer.pk), "items": items},
                        format="json")
    assert answer.status_code == 400 and problem in str(answer.json())


def test_status_moves_by_the_allowed_transitions_only(agent: Any, customer: Customer,
                                                      org_a: Organization) -> None:
    with tenant_context(org_a):
        order = OrderFactory(customer=customer, status="pending")
    url = f"/api/v1/orders/{order.pk}/status/"
    for to in ("awaiting_payment", "paid", "fulfilled"):
        answer = agent.post(url, {"status": to}, format="json")
        assert answer.status_code == 200 and answer.json()["status"] == to
    assert answer.json()["payment_completed_at"]
    refused = agent.post(url, {"status": "pending"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "illegal_transition"
    assert "refunded" in refused.json()["detail"]
    assert agent.post(url, {"status": "shipped"}, format="json").status_code == 400
    # PATCH cannot write a status or a total either.
    admin = client_for(staff(org_a))
    admin.patch(f"/api/v1/orders/{order.pk}/", {"status": "pending", "total_amount": "1"},
                format="json")
    with tenant_context(org_a):
        assert Order.objects.get(pk=order.pk).status == "fulfilled"


def test_transitions_table() -> None:
    assert states.may_move(None, states.AWAITING_PAYMENT)  # wb-crm rows without a status
    assert not states.may_move(states.CANCELLED, states.PAID)
    assert not states.may_move(states.PAID, states.PENDING)
    assert states.may_move(states.FULFILLED, states.REFUNDED)


def test_inbound_carts_follow_the_same_states(in_a: Organization) -> None:
    order = OrderFactory(status="pending")  # as the webhook stores a WhatsApp cart
    assert services.advance(order, states.AWAITING_PAYMENT)
    assert services.advance(order, states.PAID)
    assert not services.advance(order, states.PENDING)  # a late event never undoes paid
    assert Order.objects.get(pk=order.pk).status == states.PAID


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_rows_are_out_of_reach(
    org_a: Organization, org_b: Organization, customer: Customer, product: Product
) -> None:
    admin = client_for(staff(org_a))
    with tenant_context(org_b):
        theirs = OrderFactory(status="pending")
        their_customer = CustomerFactory()
        their_address = CustomerAddressFactory(customer=their_customer)
    answer = admin.post("/api/v1/orders/", {"customer": str(their_customer.pk), "items": [
        {"product": str(product.pk)}]}, format="json")
    assert answer.status_code == 400 and "customer" in answer.json()
    with tenant_context(org_a):
        CustomerAddressFactory(customer=customer)
    answer = admin.post("/api/v1/orders/", {
        "customer": str(customer.pk), "shipping_address": str(their_address.pk),
        "items": [{"product": str(product.pk)}]}, format="json")
    assert answer.status_code == 400 and "shipping_address" in answer.json()
    for path in ("", "status/", "payment-link/"):
        method = admin.get if not path else admin.post
        assert method(f"/api/v1/orders/{theirs.pk}/{path}", {"status": "cancelled"},
                      format="json").status_code == 404
    with unscoped():
        assert Order.objects.get(pk=theirs.pk).status == "pending"
