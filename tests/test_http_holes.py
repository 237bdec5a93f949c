"""Holes found over HTTP: organization enumeration, the admin history, deleting shared rows."""
from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.models import LogEntry

from crm.models import Organization, Product, Role, Template
from tenancy.context import tenant_context, unscoped
from tests.factories import OrderFactory, OrderItemFactory, ProductFactory
from tests.test_admin_support import ALL, admin_url, make_staff, signed_in
from tests.test_api import client_for, staff


@pytest.mark.parametrize("header", [
    "org-b",                # another organization's code
    "no-such-org",          # a code nobody has
    "{org_b}",              # another organization's id
    "0c5b2f1e-9d1a-4c1e-8f5e-2b7d3c4a5e6f",  # an id nobody has
])
def test_naming_any_organization_not_yours_is_403_whether_or_not_it_exists(
    org_a: Organization, org_b: Organization, header: str
) -> None:
    api = client_for(staff(org_a))
    answer = api.get("/api/v1/customers/", HTTP_X_ORGANIZATION_ID=header.format(org_b=org_b.pk))
    assert answer.status_code == 403
    assert answer.json() == {"detail": "X-Organization-ID names an organization that is not "
                             "yours: send your own organization's id or code, or leave the "
                             "header out."}
    for own in ("org-a", str(org_a.pk)):
        assert api.get("/api/v1/customers/", HTTP_X_ORGANIZATION_ID=own).status_code == 200


def test_the_browser_session_gets_the_same_403(client, org_a: Organization) -> None:
    client.force_login(staff(org_a))
    for header in ("org-b", "no-such-org"):
        assert client.get("/api/v1/customers/", HTTP_X_ORGANIZATION_ID=header).status_code == 403


@pytest.fixture
def platform() -> object:
    return staff(None, Role.SUPER_ADMIN)


def test_platform_staff_delete_an_unused_product_without_choosing_an_organization(
    platform: object, org_a: Organization
) -> None:
    with unscoped():
        product = ProductFactory()
    answer = client_for(platform).delete(f"/api/v1/products/{product.pk}/")
    assert answer.status_code == 204
    with unscoped():
        assert not Product.objects.filter(pk=product.pk).exists()


@pytest.mark.parametrize("chosen", [None, "org-a"])
def test_deleting_a_product_an_organization_ordered_is_a_clear_409(
    platform: object, org_a: Organization, org_b: Organization, chosen: str | None
) -> None:
    """B's order item refers to the shared product: refused with a reason, never a 500 (and
    never a product deleted under B's order); as organization A, the shared row is not A's to
    delete (crm.0037)."""
    with unscoped():
        product = ProductFactory()
    with tenant_context(org_b):
        OrderItemFactory(order=OrderFactory(), product=product)
    headers = {"HTTP_X_ORGANIZATION_ID": chosen} if chosen else {}
    answer = client_for(platform).delete(f"/api/v1/products/{product.pk}/", **headers)
    if chosen:
        assert answer.status_code == 403
    else:
        assert answer.status_code == 409
        assert "still referenced by order items" in answer.json()["detail"]
    with unscoped():
        assert Product.objects.filter(pk=product.pk).exists()


PROMO = uuid.UUID("5e0c0a7e-0000-4000-8000-00000000c0de")


def _edit_template(client, body: str) -> None:
    url = admin_url(Template, "change", Template(pk=PROMO))
    answer = client.post(url, {"template_body": f'{{"text": "{body}"}}',
                               "template_vars": "[\"name\"]"})
    assert answer.status_code == 302, answer.context["adminform"].form.errors


def _create_promo() -> None:
    Template.objects.create(id=PROMO, template_name="promo", template_body={}, template_vars={})


def test_admin_history_shows_an_organization_only_its_own_entries(org_a, org_b) -> None:
    """B edited and deleted its template; A then made one with the same key (keys may come from
    clients): A's history of it shows A's entries only, platform staff see both."""
    boss_a = make_staff(org_a, Role.ORG_ADMIN, "boss-a")
    boss_b = make_staff(org_b, Role.ORG_ADMIN, "boss-b")
    with tenant_context(org_b):
        _create_promo()
    _edit_template(signed_in(boss_b), "B's secret offer")
    with tenant_context(org_b):
        Template.objects.filter(pk=PROMO).delete()
    with tenant_context(org_a):
        _create_promo()
    _edit_template(signed_in(boss_a), "A's offer")
    with unscoped():  # the test reads the truth across organizations
        assert LogEntry.objects.filter(object_id=str(PROMO)).count() == 2

    history = signed_in(boss_a).get(admin_url(Template, "history", Template(pk=PROMO)))
    assert history.status_code == 200
    assert [e.user_id for e in history.context["action_list"]] == [boss_a.pk]
    assert "boss-b" not in history.content.decode()

    root = signed_in(make_staff(None, Role.SUPER_ADMIN, "root"), ALL)
    everything = root.get(admin_url(Template, "history", Template(pk=PROMO)))
    assert {e.user_id for e in everything.context["action_list"]} == {boss_a.pk, boss_b.pk}
