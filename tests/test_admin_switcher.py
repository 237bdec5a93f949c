"""Platform staff choose the organization the admin shows, or all of them."""
from __future__ import annotations

import pytest
from django.test import Client

from crm.admin.scoping import ALL, SESSION_KEY
from crm.models import Customer, Organization, Role, Template, User
from tenancy.context import tenant_context, unscoped
from tests.factories import (
    CustomerAddressFactory,
    CustomerFactory,
    OrderFactory,
    RoleFactory,
    UserFactory,
)
from tests.test_admin_support import admin_url, make_staff, signed_in

SWITCH = "/admin/switch-organization/"


@pytest.fixture
def root(db) -> User:
    return make_staff(None, Role.SUPER_ADMIN, "root")


@pytest.fixture
def customers(org_a, org_b) -> dict[str, Customer]:
    found = {}
    for org in (org_a, org_b):
        with tenant_context(org):
            found[org.code] = CustomerFactory(name=f"Customer of {org.code}")
    return found


def _listed(response) -> set:
    return {row.pk for row in response.context["cl"].result_list}


def test_nothing_chosen_shows_the_choice_and_no_tenant_page(root, customers, org_a, org_b):
    client = signed_in(root)
    for url in ("/admin/", admin_url(Customer), admin_url(Customer, "change", customers["org-a"])):
        page = client.get(url)
        assert page.status_code == 200
        assert "admin/crm/choose_organization.html" in [t.name for t in page.templates]
        assert "cl" not in page.context and "adminform" not in page.context
        assert org_a.name in page.content.decode() and org_b.name in page.content.decode()
        assert page.context["next"] == url


def test_choosing_an_organization_shows_exactly_its_rows(root, customers, org_b):
    client = signed_in(root)
    answer = client.post(SWITCH, {"organization": str(org_b.pk), "next": admin_url(Customer)})
    assert answer.status_code == 302 and answer["Location"] == admin_url(Customer)
    assert client.session[SESSION_KEY] == str(org_b.pk)
    page = client.get(admin_url(Customer))
    assert _listed(page) == {customers["org-b"].pk}
    assert "organization" not in page.context["cl"].list_display  # as B's ORG_ADMIN sees it
    switcher = page.context["organization_switcher"]
    assert switcher["current"] == str(org_b.pk)
    assert f'value="{org_b.pk}" selected' in page.content.decode()


def test_switching_is_a_csrf_protected_post_for_platform_staff_only(root, org_a, org_b):
    assert signed_in(root).get(SWITCH).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(root)
    assert strict.post(SWITCH, {"organization": ALL}).status_code == 403
    assert SESSION_KEY not in strict.session
    boss = make_staff(org_a, Role.ORG_ADMIN)
    client = signed_in(boss)
    assert client.post(SWITCH, {"organization": str(org_b.pk)}).status_code == 403
    assert SESSION_KEY not in client.session
    # And a session value planted for organization staff changes nothing: they stay in A.
    session = client.session
    session[SESSION_KEY] = ALL
    session.save()
    with tenant_context(org_b):
        theirs = CustomerFactory()
    assert theirs.pk not in _listed(client.get(admin_url(Customer)))


def test_an_unsafe_next_url_goes_to_the_index(root, org_a):
    answer = signed_in(root).post(SWITCH, {"organization": str(org_a.pk),
                                           "next": "https://evil.example.com/"})
    assert answer["Location"] == "/admin/"


def test_inactive_organizations_cannot_be_chosen_or_kept(root, org_a, org_b):
    client = signed_in(root)
    with unscoped():
        Organization.objects.filter(pk=org_b.pk).update(is_active=False)
    answer = client.post(SWITCH, {"organization": str(org_b.pk)}, follow=True)
    assert SESSION_KEY not in client.session
    assert "Choose an active organization." in [str(m) for m in answer.context["messages"]]
    assert org_b.name not in answer.content.decode()  # not offered
    client.post(SWITCH, {"organization": str(org_a.pk)})
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(is_active=False)
    page = client.get(admin_url(Customer))
    assert "admin/crm/choose_organization.html" in [t.name for t in page.templates]


def test_all_organizations_lists_every_row_with_organization_column_and_filter(
    root, customers, org_a, org_b
):
    client = signed_in(root, ALL)
    page = client.get(admin_url(Customer))
    assert _listed(page) == {c.pk for c in customers.values()}
    cl = page.context["cl"]
    assert cl.list_display[2] == "organization"  # after the checkbox and the row's link
    assert "organization" in cl.list_select_related
    assert any(spec.title == "organization" for spec in cl.filter_specs)
    only_b = client.get(admin_url(Customer), {"organization__id__exact": str(org_b.pk)})
    assert _listed(only_b) == {customers["org-b"].pk}
    for model in (User, Template):  # every tenant changelist shows the column
        assert "organization" in client.get(admin_url(model)).context["cl"].list_display


def test_editing_in_all_organizations_keeps_the_row_in_its_organization(root, org_a, org_b):
    with tenant_context(org_b):
        order = OrderFactory()
        other_address = CustomerAddressFactory(customer=order.customer)
    with tenant_context(org_a):
        a_customer = CustomerFactory()
        a_address = CustomerAddressFactory(customer=a_customer)
    client = signed_in(root, ALL)
    url = admin_url(type(order), "change", order)
    page = client.get(url)
    form = page.context["adminform"].form
    assert "organization" not in form.fields  # shown, read-only
    assert "organization" in page.context["adminform"].readonly_fields
    with tenant_context(org_b):
        offered = set(form.fields["shipping_address"].queryset.values_list("pk", flat=True))
    assert offered == {order.shipping_address_id, other_address.pk}
    data = {"customer": str(a_customer.pk), "shipping_address": str(a_address.pk),
            "status": "paid"}
    refused = client.post(url, data)
    assert {"customer", "shipping_address"} <= set(refused.context["adminform"].form.errors)
    data = {"customer": str(order.customer_id), "shipping_address": str(other_address.pk),
            "status": "paid", "catalog_id": "c-1"}
    for prefix in ("items", "payments", "transactions"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    assert client.post(url, data).status_code == 302
    with unscoped():
        order.refresh_from_db()
    assert (order.organization_id, order.status, order.shipping_address_id) == (
        org_b.pk, "paid", other_address.pk)


def test_adding_in_all_organizations_needs_the_organization(root, org_a, org_b):
    client = signed_in(root, ALL)
    page = client.get(admin_url(Customer, "add"))
    field = page.context["adminform"].form.fields["organization"]
    assert field.required
    assert set(field.queryset) == {org_a, org_b}
    assert page.context["inline_admin_formsets"] == []  # inlines once it has an organization
    data = {"wa_id": "919811112222", "customer_status": "open", "name": "New"}
    assert "organization" in client.post(admin_url(Customer, "add"), data).context[
        "adminform"].form.errors
    with tenant_context(org_b):
        b_agent = UserFactory()
    refused = client.post(admin_url(Customer, "add"),
                          {**data, "organization": str(org_a.pk), "user": str(b_agent.pk)})
    assert refused.context["adminform"].form.errors["user"] == [
        "Choose a row of the same organization."]
    assert client.post(admin_url(Customer, "add"),
                       {**data, "organization": str(org_a.pk)}).status_code == 302
    with unscoped():
        created = Customer.objects.get(wa_id="919811112222")
    assert created.organization_id == org_a.pk and created.created_at is not None


def test_shared_templates_are_changed_in_all_organizations_mode_only(root, org_a):
    with unscoped():
        shared = Template.objects.create(template_name="welcome", template_body={},
                                         template_vars=[])
    url = admin_url(Template, "change", shared)
    data = {"template_body": '{"text": "Hi"}', "template_vars": '["name"]',
            "facebook_template_id": "fb-1"}
    as_a = signed_in(root, org_a)
    assert as_a.get(url).context["has_change_permission"] is False  # read-only, as for A
    assert as_a.post(url, data).status_code == 403
    everyone = signed_in(root, ALL)
    assert everyone.post(url, data).status_code == 302
    with unscoped():
        shared.refresh_from_db()
    assert shared.organization_id is None and shared.facebook_template_id == "fb-1"
    added = everyone.post(admin_url(Template, "add"), {
        **data, "template_name": "bye", "language": "en_US"})
    assert added.status_code == 302
    with unscoped():
        assert Template.objects.get(template_name="bye").organization_id is None


def test_all_organizations_adds_platform_staff_and_organization_staff(root, org_a) -> None:
    client = signed_in(root, ALL)
    with unscoped():
        roles = {name: RoleFactory(name=name) for name in (Role.SUPER_ADMIN, Role.AGENT)}
    form = {"password1": "a-Good-pass-4321", "password2": "a-Good-pass-4321",
            "first_name": "N", "last_name": "P", "phone_number": "1"}
    page = client.get(admin_url(User, "add"))
    assert not page.context["adminform"].form.fields["organization"].required
    assert Role.SUPER_ADMIN in {r.name for r in
                                page.context["adminform"].form.fields["role"].queryset}
    answers = {
        "ops": client.post(admin_url(User, "add"), {
            **form, "username": "ops", "email": "ops@x.io", "role": roles[Role.SUPER_ADMIN].pk}),
        "clerk": client.post(admin_url(User, "add"), {
            **form, "username": "clerk", "email": "clerk@x.io", "role": roles[Role.AGENT].pk,
            "organization": str(org_a.pk)}),
        "stray": client.post(admin_url(User, "add"), {
            **form, "username": "stray", "email": "stray@x.io", "role": roles[Role.AGENT].pk}),
        "odd": client.post(admin_url(User, "add"), {
            **form, "username": "odd", "email": "odd@x.io",
            "role": roles[Role.SUPER_ADMIN].pk, "organization": str(org_a.pk)}),
    }
    assert answers["ops"].status_code == answers["clerk"].status_code == 302
    assert "organization" in answers["stray"].context["adminform"].form.errors
    assert "role" in answers["odd"].context["adminform"].form.errors
    with unscoped():
        made = dict(User.objects.filter(username__in=answers).values_list(
            "username", "organization_id"))
    assert made == {"ops": None, "clerk": org_a.pk}
