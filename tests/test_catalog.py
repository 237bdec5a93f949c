"""The catalog per organization (crm.0037): an organization's own products and categories are its
to manage; shared rows (no organization) are read by every organization and changed by platform
staff only; another organization's rows are not found, not orderable, with PostgreSQL's policies
alone too."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from crm.admin.scoping import ALL
from crm.models import Category, Order, Organization, Product, Role
from tenancy.context import tenant_context, unscoped
from tests.factories import CustomerFactory, OrderItemFactory, ProductFactory
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for, staff


@pytest.fixture
def shared(db: None) -> Product:
    with unscoped():  # the shared catalog is platform data
        return ProductFactory(name="Shared serum", sku="SHARED-1", price=100)


@pytest.fixture
def theirs(org_b: Organization) -> Product:
    with tenant_context(org_b):
        return ProductFactory(name="B's own balm", sku="B-1", price=300)


def _listed(client: Any, path: str = "products") -> set[str]:
    answer = client.get(f"/api/v1/{path}/", {"page_size": 100})
    assert answer.status_code == 200
    return {row["id"] for row in answer.json()["results"]}


@pytest.mark.usefixtures("python_scope")
def test_an_org_admin_manages_its_own_products(org_a, org_b, shared, theirs) -> None:
    admin = client_for(staff(org_a, Role.ORG_ADMIN))
    category = admin.post("/api/v1/categories/", {"name": "Skin"}, format="json")
    assert category.status_code == 201, category.content
    created = admin.post("/api/v1/products/", {
        "name": "A's cream", "sku": "SHARED-1", "price": 250, "category": category.json()["id"]},
        format="json")  # a SKU of the shared catalog: unique per organization, so allowed
    assert created.status_code == 201, created.content
    mine = created.json()["id"]
    assert admin.patch(f"/api/v1/products/{mine}/", {"price": 260},
                       format="json").status_code == 200
    again = admin.post("/api/v1/products/", {"name": "Twice", "sku": "SHARED-1", "price": 1},
                       format="json")
    assert again.status_code == 409 and again.json()["fields"] == ["sku"]
    assert _listed(admin) == {mine, str(shared.pk)}
    with unscoped():
        row = Product.objects.get(pk=mine)
        assert (row.organization_id, row.price) == (org_a.pk, 260)
        assert Category.objects.get(pk=category.json()["id"]).organization_id == org_a.pk
    # B sees the shared row and its own, never A's.
    assert _listed(client_for(staff(org_b, Role.ORG_ADMIN))) == {str(shared.pk), str(theirs.pk)}
    assert admin.delete(f"/api/v1/products/{mine}/").status_code == 204


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_product_is_not_found_and_not_orderable(
    org_a, org_b, theirs
) -> None:
    admin = client_for(staff(org_a, Role.ORG_ADMIN))
    url = f"/api/v1/products/{theirs.pk}/"
    for method in ("get", "patch", "put", "delete"):
        assert getattr(admin, method)(url, {"name": "x"}, format="json").status_code == 404
    assert admin.get(f"/api/v1/categories/{theirs.category_id}/").status_code == 404
    assert admin.get(f"/api/v1/sub-categories/{theirs.sub_category_id}/").status_code == 404
    with tenant_context(org_a):
        customer = CustomerFactory()
    answer = admin.post("/api/v1/orders/", {"customer": str(customer.pk), "items": [
        {"product": str(theirs.pk), "quantity": 1}]}, format="json")
    assert answer.status_code == 400 and str(theirs.pk) in answer.content.decode()
    with tenant_context(org_a):
        assert not Order.objects.exists()
        assert not Product.objects.filter(pk=theirs.pk).exists()  # RLS alone hides it too
    with unscoped():
        assert Product.objects.get(pk=theirs.pk).name == "B's own balm"


@pytest.mark.usefixtures("python_scope")
def test_shared_rows_are_read_by_both_and_written_by_neither(org_a, org_b, shared) -> None:
    for org in (org_a, org_b):
        admin = client_for(staff(org, Role.ORG_ADMIN))
        url = f"/api/v1/products/{shared.pk}/"
        assert admin.get(url).json()["name"] == "Shared serum"
        # 403, not 404: the caller reads the row, so "not found" would be false; it is read-only.
        assert admin.patch(url, {"name": "Taken"}, format="json").status_code == 403
        assert admin.delete(url).status_code == 403
        assert admin.patch(f"/api/v1/categories/{shared.category_id}/", {"name": "Taken"},
                           format="json").status_code == 403
        with tenant_context(org):
            customer = CustomerFactory()
        ordered = admin.post("/api/v1/orders/", {"customer": str(customer.pk), "items": [
            {"product": str(shared.pk), "quantity": 2}]}, format="json")
        assert ordered.status_code == 201 and ordered.json()["total_amount"] == "200.00"
    agent = client_for(staff(org_a, Role.AGENT))
    assert agent.get(f"/api/v1/products/{shared.pk}/").status_code == 200
    assert agent.post("/api/v1/products/", {"name": "x", "price": 1},
                      format="json").status_code == 403
    with unscoped():
        assert Product.objects.get(pk=shared.pk).name == "Shared serum"
        assert Category.objects.get(pk=shared.category_id).name != "Taken"


def test_platform_staff_manage_the_shared_catalog(org_a, org_b, shared) -> None:
    with tenant_context(org_a):
        own = ProductFactory()
    with tenant_context(org_b):
        OrderItemFactory(product=shared)  # B ordered the shared product
    platform = client_for(staff(None, Role.SUPER_ADMIN))
    assert _listed(platform) == {str(shared.pk)}  # no organization chosen: the shared rows
    assert platform.patch(f"/api/v1/products/{shared.pk}/", {"price": 120},
                          format="json").status_code == 200
    created = platform.post("/api/v1/products/", {"name": "New shared", "price": 5},
                            format="json")
    assert created.status_code == 201
    refused = platform.delete(f"/api/v1/products/{shared.pk}/")
    assert refused.status_code == 409 and "order items" in refused.json()["detail"]
    assert platform.get(f"/api/v1/products/{own.pk}/").status_code == 404
    with unscoped():
        assert Product.objects.get(pk=created.json()["id"]).organization_id is None
        assert Product.objects.get(pk=shared.pk).price == 120


def test_the_admin_keeps_each_organizations_catalog_apart(org_a, org_b, shared, theirs) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = client.post(admin_url(Product, "add"), {
        "name": "A's soap", "sku": "A-1", "price": "10", "stock": "3"})
    assert answer.status_code == 302
    with tenant_context(org_a):
        mine = Product.objects.get(sku="A-1")
    assert mine.organization_id == org_a.pk
    listed = {p.pk for p in client.get(admin_url(Product)).context["cl"].result_list}
    assert listed == {mine.pk, shared.pk}
    for key in (theirs.pk, uuid.uuid4()):  # B's product answers as a missing one does
        assert client.get(admin_url(Product, "change", key)).status_code == 302
        assert client.post(admin_url(Product, "change", key), {
            "name": "x", "price": "1", "stock": "1"}).status_code == 302
    b_admin = signed_in(make_staff(org_b, Role.ORG_ADMIN))
    assert mine.pk not in {p.pk for p in b_admin.get(admin_url(Product)).context["cl"].result_list}
    # Platform staff in all-organizations mode see every organization's rows and change shared
    # ones; an organization's staff never do (tests/test_admin_roles.py).
    platform = signed_in(make_staff(None, Role.SUPER_ADMIN), ALL)
    every = {p.pk for p in platform.get(admin_url(Product)).context["cl"].result_list}
    assert {mine.pk, shared.pk, theirs.pk} <= every
    with unscoped():
        assert Product.objects.get(pk=theirs.pk).name == "B's own balm"
