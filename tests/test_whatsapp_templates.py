"""Templates per organization: sync from Meta (paged), create and delete on Meta, identity,
isolation, and the sync_templates command."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from bench.fake_graph import FakeGraph
from crm.models import Organization, Role, Template, WhatsAppApiLog, WhatsAppNumber
from crm.whatsapp import templates
from crm.whatsapp.templates import TemplateParameterError, find_template, validate_send
from tenancy.context import tenant_context, unscoped
from tenancy.exceptions import CrossTenantError
from tests.factories import CustomerFactory, TemplateFactory, WhatsAppNumberFactory
from tests.test_api import client_for, staff

WABA_A, WABA_B = "200000000000001", "200000000000002"  # Meta's ids are digits
BODY = [{"type": "BODY", "text": "Hi {{1}}"}]


@pytest.fixture
def number_a(org_a: Organization) -> WhatsAppNumber:
    with tenant_context(org_a):
        return WhatsAppNumberFactory(access_token="TOKEN-A-secret",
                                     whatsapp_business_account_id=WABA_A)


@pytest.fixture
def number_b(org_b: Organization) -> WhatsAppNumber:
    with tenant_context(org_b):
        return WhatsAppNumberFactory(access_token="TOKEN-B-secret",
                                     whatsapp_business_account_id=WABA_B)


@pytest.fixture
def two_accounts(fake_graph: FakeGraph, number_a: WhatsAppNumber,
                 number_b: WhatsAppNumber) -> FakeGraph:
    """A's and B's accounts on Meta, each with its own hello_world."""
    fake_graph.add_template(WABA_A, "hello_world")
    fake_graph.add_template(WABA_B, "hello_world")
    return fake_graph


def _rows(org: Organization) -> dict[tuple[str, str], Template]:
    with tenant_context(org):
        return {(t.template_name, t.language): t
                for t in Template.objects.filter(organization=org)}


def test_sync_pages_through_every_template_and_upserts(
    fake_graph: FakeGraph, org_a: Organization, number_a: WhatsAppNumber,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(templates, "PAGE_SIZE", 2)
    for i in range(5):
        fake_graph.add_template(WABA_A, f"t{i}", components=BODY, category="MARKETING")
    fake_graph.add_template(WABA_A, "t0", "pt_BR")
    with tenant_context(org_a):
        assert templates.sync_templates().as_json() == {
            "accounts": [WABA_A], "created": 6, "updated": 0, "deleted": 0}
    lists = [c for c in fake_graph.calls if c.path.endswith("/message_templates")]
    assert [c.query.get("after") for c in lists] == [None, ["2"], ["4"]]
    assert all(c.query["limit"] == ["2"] and c.authorization == "Bearer TOKEN-A-secret"
               for c in lists)
    rows = _rows(org_a)
    assert set(rows) == {*((f"t{i}", "en_US") for i in range(5)), ("t0", "pt_BR")}
    t1 = rows[("t1", "en_US")]
    assert (t1.category, t1.status, t1.components) == ("MARKETING", "APPROVED", BODY)
    assert t1.whatsapp_business_account_id == WABA_A and t1.facebook_template_id
    # Meta's `next` URL carries the token: it is never followed, so never logged.
    with tenant_context(org_a):
        assert WhatsAppApiLog.objects.count() == 3
        assert not WhatsAppApiLog.objects.filter(request_url__contains="SECRET").exists()

    # Again: changed rows updated, rows Meta no longer lists deleted (only that account's).
    fake_graph.templates[WABA_A] = [t for t in fake_graph.templates[WABA_A] if t["name"] != "t4"]
    fake_graph.templates[WABA_A][0]["status"] = "PAUSED"
    with tenant_context(org_a):
        TemplateFactory(template_name="local_only")
        report = templates.sync_templates()
    assert (report.created, report.updated, report.deleted) == (0, 5, 1)
    rows = _rows(org_a)
    assert ("t4", "en_US") not in rows and ("local_only", "en_US") in rows
    assert rows[("t0", "en_US")].status == "PAUSED"


def test_two_organizations_both_have_hello_world_and_share_the_shared_one(
    org_a: Organization, org_b: Organization
) -> None:
    with unscoped():  # shared rows are platform data: written only unscoped
        shared = TemplateFactory(template_name="hello_world", organization=None)
    with tenant_context(org_a):
        own_a = TemplateFactory(template_name="hello_world")
        TemplateFactory(template_name="hello_world", language="pt_BR")
        assert find_template("hello_world", "en_US") == own_a  # own row first
        assert Template.objects.filter(pk=shared.pk).update(status="PAUSED") == 0
        with pytest.raises(CrossTenantError):
            shared.save()
        with pytest.raises(IntegrityError), transaction.atomic():
            TemplateFactory(template_name="hello_world")
    with tenant_context(org_b):
        own_b = TemplateFactory(template_name="hello_world")
        assert set(Template.objects.filter(template_name="hello_world")) == {own_b, shared}
        own_b.delete()
        assert find_template("hello_world", "en_US") == shared
        assert find_template("hello_world", "pt_BR") is None
    with unscoped(), pytest.raises(IntegrityError), transaction.atomic():
        TemplateFactory(template_name="hello_world", organization=None)


def test_validate_send_checks_against_the_stored_template(in_a: Organization) -> None:
    TemplateFactory(template_name="greet", template_body={"components": BODY})
    body = [{"type": "body", "parameters": [{"type": "text", "text": "Asha"}]}]
    assert validate_send("greet", "en_US", body).template_name == "greet"
    with pytest.raises(TemplateParameterError):
        validate_send("greet", "en_US", [])
    assert validate_send("not_synced", "en_US", []) is None  # Meta judges it


def test_sending_a_template_checks_its_parameters_before_meta(
    fake_graph: FakeGraph, org_a: Organization, number_a: WhatsAppNumber
) -> None:
    with tenant_context(org_a):
        TemplateFactory(template_name="greet", template_body={"components": BODY})
        customer = CustomerFactory()
    api = client_for(staff(org_a, Role.AGENT))
    send = {"type": "template", "template": {"name": "greet", "language": {"code": "en_US"}}}
    refused = api.post(f"/api/v1/customers/{customer.pk}/send/", send, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "template_parameters"
    assert refused.json()["problems"] == [
        "greet (en_US): The body has 1 placeholder(s) ({{1}}); 0 parameter(s) were sent."]
    assert fake_graph.calls == []
    send["template"]["components"] = [
        {"type": "body", "parameters": [{"type": "text", "text": "Asha"}]}]
    sent = api.post(f"/api/v1/customers/{customer.pk}/send/", send, format="json")
    assert sent.status_code == 201, sent.json()
    assert fake_graph.sent()[0].body["template"]["components"] == send["template"]["components"]


def test_api_create_goes_to_meta_then_stores(
    fake_graph: FakeGraph, org_a: Organization, number_a: WhatsAppNumber
) -> None:
    admin = client_for(staff(org_a, Role.ORG_ADMIN))
    new = {"name": "order_ready", "language": "en_US", "category": "UTILITY",
           "components": BODY}
    response = admin.post("/api/v1/templates/", new, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["template_name"], data["status"], data["organization"]) == (
        "order_ready", "PENDING", str(org_a.pk))
    assert fake_graph.calls[-1].path.endswith(f"/{WABA_A}/message_templates")
    assert fake_graph.templates[WABA_A][0]["name"] == "order_ready"
    again = admin.post("/api/v1/templates/", new, format="json")
    assert again.status_code == 409 and again.json()["code"] == "template_exists"
    bad = admin.post("/api/v1/templates/", {**new, "name": "Order Ready"}, format="json")
    assert bad.status_code == 400 and "lower-case letters" in bad.json()["detail"]
    assert len(fake_graph.calls) == 1  # refused before calling Meta


def test_api_delete_goes_to_meta_and_refuses_shared_rows(
    fake_graph: FakeGraph, org_a: Organization, number_a: WhatsAppNumber
) -> None:
    meta = fake_graph.add_template(WABA_A, "bye", components=BODY)
    fake_graph.add_template(WABA_A, "bye", "pt_BR", components=BODY)
    with tenant_context(org_a):
        templates.sync_templates()
        bye = Template.objects.get(template_name="bye", language="en_US")
    with unscoped():
        shared = TemplateFactory(template_name="shared_one", organization=None)
    admin = client_for(staff(org_a, Role.ORG_ADMIN))
    assert admin.delete(f"/api/v1/templates/{bye.pk}/").status_code == 204
    delete = fake_graph.calls[-1]
    assert delete.method == "DELETE" and delete.query == {"name": ["bye"],
                                                          "hsm_id": [meta["id"]]}
    assert [t["language"] for t in fake_graph.templates[WABA_A]] == ["pt_BR"]
    assert set(_rows(org_a)) == {("bye", "pt_BR")}
    refused = admin.delete(f"/api/v1/templates/{shared.pk}/")
    assert refused.status_code == 403 and refused.json()["code"] == "shared_template"
    patched = admin.patch(f"/api/v1/templates/{shared.pk}/", {"status": "X"}, format="json")
    assert patched.status_code == 403


def test_api_sync_roles_errors_and_isolation(
    two_accounts: FakeGraph, org_a: Organization, org_b: Organization
) -> None:
    fake_graph = two_accounts
    admin_a = client_for(staff(org_a, Role.ORG_ADMIN))
    synced = admin_a.post("/api/v1/templates/sync/")
    assert synced.status_code == 200 and synced.json()["created"] == 1
    assert client_for(staff(org_a, Role.AGENT)).post("/api/v1/templates/sync/").status_code == 403
    assert all(c.authorization == "Bearer TOKEN-A-secret" for c in fake_graph.calls)
    with tenant_context(org_b):
        templates.sync_templates()
        theirs = Template.objects.get(template_name="hello_world")
    # B's hello_world is not A's: 404 on read and delete, and Meta is not called.
    calls = len(fake_graph.calls)
    assert admin_a.get(f"/api/v1/templates/{theirs.pk}/").status_code == 404
    assert admin_a.delete(f"/api/v1/templates/{theirs.pk}/").status_code == 404
    assert len(fake_graph.calls) == calls
    listed = admin_a.get("/api/v1/templates/", {"template_name": "hello_world"}).json()
    assert [row["organization"] for row in listed["results"]] == [str(org_a.pk)]

    fake_graph.fail(190, message="(fake) token expired")
    failed = admin_a.post("/api/v1/templates/sync/")
    assert failed.status_code == 502 and failed.json()["meta"]["code"] == 190
    with tenant_context(org_a):
        WhatsAppNumber.objects.update(whatsapp_business_account_id=None)
    none = admin_a.post("/api/v1/templates/sync/")
    assert none.status_code == 409 and "whatsapp_business_account_id" in none.json()["detail"]


def test_sync_templates_command(
    two_accounts: FakeGraph, org_a: Organization, org_b: Organization
) -> None:
    out = StringIO()
    call_command("sync_templates", "--organization", "org-b", stdout=out)
    assert out.getvalue() == "org-b: 1 account(s), 1 created, 0 updated, 0 deleted\n"
    assert set(_rows(org_b)) == {("hello_world", "en_US")} and not _rows(org_a)
    call_command("sync_templates", stdout=out)
    assert set(_rows(org_a)) == {("hello_world", "en_US")}
    with pytest.raises(CommandError, match="No organization has the code 'nope'"):
        call_command("sync_templates", "--organization", "nope")
    two_accounts.fail(131000, times=10)
    with pytest.raises(CommandError, match="Sync failed for org-a"):
        call_command("sync_templates", "--organization", "org-a", stderr=StringIO())
