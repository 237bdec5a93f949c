"""Roles decide what each user may do in the admin (crm.roles through User.has_perm)."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.db import models

from crm.admin import site
from crm.admin.scoping import ALL
from crm.models import (
    AddressCollectionSession,
    Campaign,
    CampaignLog,
    Category,
    Customer,
    CustomerAddress,
    FlowLog,
    Job,
    JobStatus,
    Lead,
    Message,
    Order,
    Organization,
    Product,
    QuickReply,
    Role,
    Template,
    User,
    Verification,
    WhatsAppApiLog,
    WhatsAppNumber,
    ZohoMapping,
    ZohoPayloadLog,
)
from crm.roles import AGENT_HIDDEN_IN_ADMIN, AGENT_WRITES, LOG_MODELS
from tenancy.context import tenant_context, unscoped
from tests.factories import (
    CampaignLogFactory,
    CustomerFactory,
    JobStatusFactory,
    RoleFactory,
)
from tests.test_admin_support import (
    FACTORIES,
    PASSWORD,
    admin_url,
    make_staff,
    signed_in,
)

TENANT_ADMINS = sorted(
    (m for m in site._registry if hasattr(m, "null_organization_allowed")),
    key=lambda m: m._meta.label,
)


def _make(org: Organization, model: type[models.Model]) -> Any:
    with tenant_context(org):
        return FACTORIES[model]()


def _can_change(client: Any, obj: models.Model) -> bool:
    page = client.get(admin_url(type(obj), "change", obj))
    assert page.status_code == 200
    return page.context["has_change_permission"]


@pytest.mark.parametrize("model", TENANT_ADMINS, ids=lambda m: m._meta.model_name)
def test_an_agent_changes_conversation_tables_only(model, org_a) -> None:
    agent = make_staff(org_a, Role.AGENT)
    client = signed_in(agent)
    obj = _make(org_a, model)
    writes = model._meta.model_name in AGENT_WRITES
    if model._meta.model_name in AGENT_HIDDEN_IN_ADMIN:  # logs and API tokens: not an agent's
        assert client.get(admin_url(model)).status_code == 403
        assert client.get(admin_url(model, "change", obj)).status_code == 403
        assert admin_url(model) not in client.get("/admin/").content.decode()
        return
    assert client.get(admin_url(model)).status_code == 200  # every other tenant table is read
    assert _can_change(client, obj) is writes
    assert (client.get(admin_url(model, "add")).status_code == 200) is writes
    if not writes:
        assert client.post(admin_url(model, "change", obj), {}).status_code == 403
        assert client.post(admin_url(model, "delete", obj), {"post": "yes"}).status_code == 403
        with tenant_context(org_a):
            assert model._default_manager.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("model", [Customer, Message, CustomerAddress, Lead, QuickReply])
def test_an_agent_saves_a_change_to_a_conversation_table(model, org_a) -> None:
    client = signed_in(make_staff(org_a, Role.AGENT))
    obj = _make(org_a, model)
    url = admin_url(model, "change", obj)
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    text = next(n for n, f in form.fields.items()
                if n in ("name", "body", "full_name", "city", "title"))
    data[text] = "changed by the agent"
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    for inline in client.get(url).context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    answer = client.post(url, data)
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    with tenant_context(org_a):
        assert getattr(model._default_manager.get(pk=obj.pk), text) == "changed by the agent"


def test_an_agent_cannot_change_users_campaigns_or_orders(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.AGENT))
    for model in (User, Campaign, Order, Job):
        obj = _make(org_a, model)
        assert client.post(admin_url(model, "change", obj), {}).status_code == 403
        assert client.get(admin_url(model, "add")).status_code == 403


def test_log_tables_are_read_only_for_everyone(org_a) -> None:
    clients = [signed_in(make_staff(org_a, Role.ORG_ADMIN)),
               signed_in(make_staff(None, Role.SUPER_ADMIN), ALL)]
    for model in (CampaignLog, FlowLog, WhatsAppApiLog, ZohoPayloadLog):
        assert model._meta.model_name in LOG_MODELS
        row = _make(org_a, model)
        for client in clients:
            assert client.get(admin_url(model)).status_code == 200
            assert client.get(admin_url(model, "add")).status_code == 403
            assert _can_change(client, row) is False
            assert client.post(admin_url(model, "change", row), {}).status_code == 403
            assert client.post(admin_url(model, "delete", row), {"post": "yes"}).status_code == 403


def test_org_admin_cannot_edit_organizations_roles_or_the_shared_catalog(org_a, org_b) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    assert client.get(admin_url(Role)).status_code == 403
    for model in (Organization, Role):
        assert client.get(admin_url(model, "add")).status_code == 403
    # Its own organization's settings only (test_org_admin_sets_its_own_organizations_settings).
    assert client.get(admin_url(Organization, "change", org_b)).status_code == 404
    assert client.post(admin_url(Organization, "change", org_b),
                       {"name": "Taken", "agents_see_all": ""}).status_code == 404
    assert client.post(admin_url(Organization, "delete", org_a), {"post": "yes"}).status_code == 403
    with unscoped():
        product = FACTORIES[Product]()
    for model, row in ((Product, product), (Category, product.category)):
        assert client.get(admin_url(model)).status_code == 200  # shared rows: read-only
        assert client.get(admin_url(model, "add")).status_code == 200  # its own: its to manage
        assert _can_change(client, row) is False
        assert client.post(admin_url(model, "change", row), {"name": "x"}).status_code == 403
    with unscoped():
        assert Product.objects.get(pk=product.pk).name != "x"
    index = client.get("/admin/").content.decode()
    assert "/admin/crm/product/" in index and "/admin/crm/role/" not in index


@pytest.mark.usefixtures("python_scope")
def test_org_admin_sets_its_own_organizations_settings(org_a, org_b) -> None:
    """As the README says: the ORG_ADMIN turns agents_see_all off, and nothing else it must not."""
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    listing = client.get(admin_url(Organization))
    assert listing.status_code == 200
    assert "Org A" in listing.content.decode() and "Org B" not in listing.content.decode()
    page = client.get(admin_url(Organization, "change", org_a))
    assert page.status_code == 200
    assert set(page.context["adminform"].form.fields) == {
        "name", "description", "agents_see_all", "time_zone", "business_hours",
        "agent_reply_grace_minutes", "default_country"}
    answer = client.post(admin_url(Organization, "change", org_a), {
        "name": "Org A", "description": "", "code": "hijacked", "slug": "hijacked",
        "is_active": "", "time_zone": "Asia/Kolkata", "business_hours": "{}",
        "agent_reply_grace_minutes": "30", "default_country": "IN"})  # agents_see_all unticked
    assert answer.status_code == 302
    with unscoped():
        org_a.refresh_from_db()
        org_b.refresh_from_db()
    assert org_a.agents_see_all is False
    assert (org_a.code, org_a.slug, org_a.is_active) == ("org-a", "org-a", True)
    assert org_b.agents_see_all is True
    # An agent of the organization may not.
    agent = signed_in(make_staff(org_a, Role.AGENT))
    assert agent.post(admin_url(Organization, "change", org_a),
                      {"name": "Org A", "agents_see_all": "on"}).status_code == 403


def test_platform_staff_edit_organizations_roles_and_the_catalog(org_a) -> None:
    client = signed_in(make_staff(None, Role.SUPER_ADMIN), org_a)
    answer = client.post(admin_url(Organization, "add"),
                         {"name": "Org C", "code": "org-c", "slug": "org-c", "is_active": "on",
                          "time_zone": "Asia/Kolkata", "business_hours": "{}",
                          "agent_reply_grace_minutes": "30", "default_country": "IN"})
    assert answer.status_code == 302
    with unscoped():
        role = RoleFactory(name="AUDITOR")
        assert Organization.objects.filter(code="org-c").exists()
    assert client.post(admin_url(Role, "change", role), {
        "name": "AUDITOR", "display_name": "Auditor", "is_active": "on"}).status_code == 302
    # In all-organizations mode, with no organization chosen for them: the shared catalog.
    shared = signed_in(make_staff(None, Role.SUPER_ADMIN), ALL)
    assert shared.post(admin_url(Product, "add"), {
        "name": "Serum", "sku": "S-1", "price": "10", "stock": "3"}).status_code == 302
    assert shared.post(admin_url(Category, "add"), {
        "name": "Hair", "sub_categories-TOTAL_FORMS": "0",
        "sub_categories-INITIAL_FORMS": "0"}).status_code == 302
    with unscoped():
        assert Product.objects.get(sku="S-1").created_at is not None
        assert Product.objects.get(sku="S-1").organization_id is None
        assert Category.objects.get(name="Hair").organization_id is None


def test_shared_rows_are_read_only_for_organization_staff(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    with unscoped():
        shared = [FACTORIES[Template](), FACTORIES[ZohoMapping](), FACTORIES[Product](),
                  FACTORIES[Category]()]
    for row in shared:
        model = type(row)
        own = _make(org_a, model)
        listed = {r.pk for r in client.get(admin_url(model)).context["cl"].result_list}
        assert {row.pk, own.pk} <= listed
        assert _can_change(client, row) is False
        assert _can_change(client, own) is True
        assert client.post(admin_url(model, "change", row), {}).status_code == 403
        assert client.post(admin_url(model, "delete", row), {"post": "yes"}).status_code == 403
        client.post(admin_url(model), {"action": "delete_selected", "post": "yes",
                                       "_selected_action": [str(row.pk)]})
        with unscoped():
            assert model._base_manager.filter(pk=row.pk).exists()


def _user_form(username: str, role: Role, **extra: str) -> dict[str, str]:
    return {"username": username, "password1": PASSWORD, "password2": PASSWORD,
            "first_name": "New", "last_name": "Person", "email": f"{username}@example.com",
            "phone_number": "9000000001", "role": str(role.pk), **extra}


def test_org_admin_manages_the_users_of_its_organization(org_a, org_b) -> None:
    boss = make_staff(org_a, Role.ORG_ADMIN)
    client = signed_in(boss)
    with unscoped():
        agent_role, super_role = RoleFactory(name=Role.AGENT), RoleFactory(name=Role.SUPER_ADMIN)
    page = client.get(admin_url(User, "add"))
    offered = set(page.context["adminform"].form.fields["role"].queryset.values_list(
        "name", flat=True))
    assert offered == {Role.ORG_ADMIN, Role.AGENT}
    refused = client.post(admin_url(User, "add"), _user_form("sneaky", super_role))
    assert "role" in refused.context["adminform"].form.errors
    mismatch = client.post(admin_url(User, "add"), {**_user_form("typo", agent_role),
                                                    "password2": "other-Pass-999"})
    assert "password2" in mismatch.context["adminform"].form.errors
    assert client.post(admin_url(User, "add"), _user_form("newbie", agent_role)).status_code == 302
    with tenant_context(org_a):
        newbie = User.objects.get(username="newbie")
    assert newbie.organization_id == org_a.pk and newbie.role_name == Role.AGENT
    assert newbie.legacy_role == "AGENT"
    assert authenticate(username="newbie", password=PASSWORD) == newbie

    # Same username in another organization is fine; twice in the same one is not.
    twice = client.post(admin_url(User, "add"), _user_form("newbie", agent_role))
    assert twice.status_code == 200 and twice.context["adminform"].form.errors
    other = make_staff(org_b, Role.ORG_ADMIN)
    assert signed_in(other).post(admin_url(User, "add"),
                                 _user_form("newbie", agent_role)).status_code == 302

    # Password: changed on its own page, never shown.
    change = client.get(admin_url(User, "change", newbie))
    assert newbie.password not in change.content.decode()
    url = admin_url(User, "password", newbie)
    assert client.post(url, {"password1": "n3w-Secret-pw", "password2": "n3w-Secret-pw",
                             "usable_password": "true"}).status_code == 302
    assert authenticate(username="newbie", password="n3w-Secret-pw", organization="org-a")
    with tenant_context(org_b):
        theirs = User.objects.get(username="newbie")
    assert client.get(admin_url(User, "password", theirs)).status_code == 404
    assert client.post(admin_url(User, "password", theirs), {
        "password1": "n3w-Secret-pw", "password2": "n3w-Secret-pw"}).status_code == 404


def test_platform_staff_are_invisible_to_organizations(org_a) -> None:
    root = make_staff(None, Role.SUPER_ADMIN, "root")
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    listed = {u.pk for u in client.get(admin_url(User)).context["cl"].result_list}
    assert root.pk not in listed
    assert client.get(admin_url(User, "change", root), follow=True).redirect_chain[-1][0] == (
        "/admin/")


def test_job_statuses_are_managed_inside_their_job(org_a) -> None:
    with tenant_context(org_a):
        status = JobStatusFactory()
        newcomer = CustomerFactory()
        CampaignLogFactory(job=status.job, campaign=status.job.campaign)
    job = status.job
    url = admin_url(Job, "change", job)
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    page = client.get(url)
    prefixes = [i.formset.prefix for i in page.context["inline_admin_formsets"]]
    assert prefixes[:2] == ["statuses", "statuses-2"]
    key = JobStatus._meta.pk.value_to_string(status)
    data = {
        "campaign": str(job.campaign_id), "last_attempted_by": str(job.last_attempted_by_id),
        "statuses-TOTAL_FORMS": "1", "statuses-INITIAL_FORMS": "1",
        "statuses-0-pk": key, "statuses-0-job": str(job.pk), "statuses-0-status": "success",
        "statuses-2-TOTAL_FORMS": "1", "statuses-2-INITIAL_FORMS": "0",
        "statuses-2-0-customer": str(newcomer.pk), "statuses-2-0-status": "failure",
        "statuses-2-0-job": str(job.pk),
        "logs-TOTAL_FORMS": "0", "logs-INITIAL_FORMS": "0",
    }
    answer = client.post(url, data)
    assert answer.status_code == 302, [i.formset.errors for i in
                                       answer.context["inline_admin_formsets"]]
    with tenant_context(org_a):
        assert dict(JobStatus.objects.filter(job=job).values_list("customer_id", "status")) == {
            status.customer_id: "success", newcomer.pk: "failure"}
    duplicate = client.post(url, {**data, "statuses-0-status": "pending"})
    assert duplicate.status_code == 200  # the newcomer's status exists already
    added = [i.formset for i in duplicate.context["inline_admin_formsets"]][1]
    assert added.forms[0].errors["customer"] == [
        "This customer has a status for this job already."]
    deleted = {**data, "statuses-0-DELETE": "on", "statuses-2-TOTAL_FORMS": "0"}
    assert client.post(url, deleted).status_code == 302
    with tenant_context(org_a):
        assert list(JobStatus.objects.filter(job=job).values_list("customer_id", flat=True)) == [
            newcomer.pk]
    agent = signed_in(make_staff(org_a, Role.AGENT))
    assert agent.get(url).status_code == 200
    assert agent.post(url, data).status_code == 403


@pytest.mark.parametrize("posted", ["{", "-1", "[]", '["x"]', '["x", "y"]'])
def test_a_malformed_job_status_key_is_a_form_error_not_a_crash(org_a, posted: str) -> None:
    with tenant_context(org_a):
        status = JobStatusFactory()
        other = JobStatusFactory(job=status.job)
    job = status.job
    url = admin_url(Job, "change", job)
    data = {
        "campaign": str(job.campaign_id), "last_attempted_by": str(job.last_attempted_by_id),
        "statuses-TOTAL_FORMS": "2", "statuses-INITIAL_FORMS": "2",
        "statuses-0-pk": JobStatus._meta.pk.value_to_string(status),
        "statuses-0-job": str(job.pk), "statuses-0-status": "success",
        # The second row's key is tampered with, next to a valid one.
        "statuses-1-pk": posted, "statuses-1-job": str(job.pk), "statuses-1-status": "success",
        "statuses-2-TOTAL_FORMS": "0", "statuses-2-INITIAL_FORMS": "0",
        "logs-TOTAL_FORMS": "0", "logs-INITIAL_FORMS": "0",
    }
    with tenant_context(org_a):
        before = dict(JobStatus.objects.values_list("customer_id", "status"))
    assert before == {status.customer_id: status.status, other.customer_id: other.status}
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = client.post(url, data)
    assert answer.status_code == 200
    statuses = answer.context["inline_admin_formsets"][0].formset
    assert statuses.forms[1].errors["pk"] == ["This status is not one of this job's."]
    with tenant_context(org_a):  # nothing was saved
        assert dict(JobStatus.objects.values_list("customer_id", "status")) == before


@pytest.mark.parametrize("role", [Role.ORG_ADMIN, Role.AGENT])
def test_new_rows_take_the_users_organization_which_is_never_shown(role, org_a) -> None:
    client = signed_in(make_staff(org_a, role))
    page = client.get(admin_url(Customer, "add"))
    assert "organization" not in page.context["adminform"].form.fields
    assert 'name="organization"' not in page.content.decode()
    data = {"wa_id": "919822223333", "customer_status": "open", "name": "Walk-in",
            "organization": "ignored"}
    for prefix in ("addresses", "orders", "messages"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update({"addresses-TOTAL_FORMS": "1", "addresses-0-full_name": "Walk-in",
                 "addresses-0-phone": "1", "addresses-0-house_street": "1 Road",
                 "addresses-0-locality": "Centre", "addresses-0-city": "Pune",
                 "addresses-0-state": "MH", "addresses-0-pincode": "411001"})
    assert client.post(admin_url(Customer, "add"), data).status_code == 302
    with unscoped():
        customer = Customer.objects.get(wa_id="919822223333")
        address = CustomerAddress.objects.get(customer=customer)
    assert customer.organization_id == address.organization_id == org_a.pk
    assert customer.created_at is not None and address.created_at is not None
    # The same wa_id again is refused in A (unique per organization), and fine in B.
    again = client.post(admin_url(Customer, "add"), {**data, "addresses-TOTAL_FORMS": "0"})
    assert "Customer with this Organization and Wa id already exists." in str(
        again.context["adminform"].form.errors)


def test_a_value_unique_across_organizations_is_a_form_error_not_a_crash(org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = FACTORIES[Template](template_name="promo")
        number = FACTORIES[WhatsAppNumber]()
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    # Templates are unique per organization (crm.0009): A may have its own "promo" too.
    template = client.post(admin_url(Template, "add"), {
        "template_name": "promo", "language": "en_US", "template_body": '{"components": []}',
        "template_vars": '["x"]'})
    assert template.status_code == 302, template.context["adminform"].form.errors
    # Another organization's number is no clash to reveal (crm.0020): A's copy waits, unproved.
    form = {"phone_number_id": number.phone_number_id, "is_active": "on",
            "messages_per_second": "10"}
    phone = client.post(admin_url(WhatsAppNumber, "add"), form)
    assert phone.status_code == 302, phone.context["adminform"].form.errors
    with unscoped():
        owners = Template.objects.filter(template_name="promo").values_list("organization_id")
        assert sorted(str(owner) for (owner,) in owners) == sorted([str(org_a.pk), str(org_b.pk)])
    with tenant_context(org_a):
        copy = WhatsAppNumber.objects.get(phone_number_id=number.phone_number_id)
    assert copy.verified_at is None and copy.verification_status == Verification.PENDING
    # The same id twice in one organization is a form error, never a crash.
    again = client.post(admin_url(WhatsAppNumber, "add"), form)
    assert again.status_code == 200
    assert "Phone number id already exists" in str(again.context["adminform"].form.errors)
    assert str(theirs.pk) not in again.content.decode()


def test_a_customer_page_links_to_all_of_its_records(org_a) -> None:
    with tenant_context(org_a):
        first, other = FACTORIES[Message](), FACTORIES[Message]()
    client = signed_in(make_staff(org_a, Role.AGENT))
    page = client.get(admin_url(Customer, "change", first.customer)).content.decode()
    link = f'<a href="/admin/crm/message/?customer__id__exact={first.customer_id}">messages</a>'
    assert link in page
    listed = client.get(admin_url(Message), {"customer__id__exact": str(first.customer_id)})
    assert {m.pk for m in listed.context["cl"].result_list} == {first.pk}
    assert other.pk != first.pk


def test_the_index_is_grouped_by_work_and_links_the_inbox(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.AGENT))
    page = client.get("/admin/")
    groups = [app["name"] for app in page.context["app_list"]]
    assert groups == ["Conversations", "Customers", "Campaigns", "Orders", "Settings"]
    assert 'href="/inbox/"' in page.content.decode()
    admin_groups = [a["name"] for a in signed_in(make_staff(org_a, Role.ORG_ADMIN))
                    .get("/admin/").context["app_list"]]
    assert admin_groups[-1] == "Logs"


def test_customer_system_fields_are_read_only_and_link_to_the_inbox(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.AGENT))
    customer = _make(org_a, Customer)
    page = client.get(admin_url(Customer, "change", customer))
    form = page.context["adminform"].form
    for name in ("last_message_at", "last_interaction_time", "last_inbound_at", "last_read_at"):
        assert name not in form.fields
    assert f'href="/inbox/{customer.pk}/"' in page.content.decode()


@pytest.mark.parametrize("content, said", [
    ('{"body": "\\ud800"}', "body: holds a NUL character, a lone surrogate"),
    ('{"body": "a\\u0000b"}', "body: holds a NUL character, a lone surrogate"),
    ("[" * 5000 + "]" * 5000, "Enter a valid JSON."),
], ids=["lone-surrogate", "nul", "nested-too-deeply"])
def test_json_the_database_refuses_is_a_form_error_not_a_crash(
    org_a, content: str, said: str
) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    page = client.post(admin_url(AddressCollectionSession, "add"), {
        "session_data": content, "status": "active",
        "customer": "..",  # an autocomplete choice that is no key: shown back as no choice
    })
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert errors["session_data"][0].startswith(said)
    assert "customer" in errors
    with tenant_context(org_a):
        assert not AddressCollectionSession.objects.exists()
