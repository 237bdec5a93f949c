"""Exports of a whole organization, a customer's erasure, and `delete_organization`: each holds
or touches exactly one organization's rows, with PostgreSQL's policies alone too."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from crm.campaigns import services
from crm.lifecycle import erasure, exports
from crm.lifecycle.tables import key_order, tenant_models
from crm.models import (
    AuditEvent,
    Campaign,
    Customer,
    Message,
    Organization,
    OrganizationExport,
    Role,
)
from tenancy.context import tenant_context, unscoped
from tests.campaign_support import scenario
from tests.celery_support import eager, redis_keys  # noqa: F401  (fixtures)
from tests.factories import (
    CampaignCustomerFactory,
    CampaignLogFactory,
    CampaignRecipientFactory,
    ConversationNoteFactory,
    CustomerAddressFactory,
    CustomerFactory,
    FlowLogFactory,
    FlowSessionFactory,
    JobStatusFactory,
    LeadFactory,
    MessageFactory,
    ReferrerTrackingFactory,
    WebhookDeliveryFactory,
    WhatsAppApiLogFactory,
    ZohoPayloadLogFactory,
)
from tests.test_admin_support import build_world, make_staff
from tests.test_api import client_for

pytestmark = pytest.mark.usefixtures("python_scope", "eager")

NAME, NUMBER = "Zanzibar Quillfeather", "919812398765"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path)


def _export(api: Any, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    with django_capture_on_commit_callbacks(execute=True):
        queued = api.post("/api/v1/organization/export/")
    assert queued.status_code == 202, queued.content
    answer = api.get(f"/api/v1/organization/exports/{queued.json()['id']}/").json()
    assert answer["state"] == "done", answer
    return answer


def _zip(api: Any, url: str) -> zipfile.ZipFile:
    answer = api.get(url)
    assert answer.status_code == 200
    return zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))


def _normal(row: dict[str, Any]) -> str:
    return json.dumps(row, cls=DjangoJSONEncoder, sort_keys=True)


def test_an_export_holds_exactly_each_organizations_rows_and_media(
        org_a: Organization, org_b: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    build_world(org_a, org_b)
    for org in (org_a, org_b):
        default_storage.save(f"whatsapp-media/{org.pk}/media-{org.code}", ContentFile(b"x"))
    for org, other in ((org_a, org_b), (org_b, org_a)):
        api = client_for(make_staff(org, Role.ORG_ADMIN))
        answer = _export(api, django_capture_on_commit_callbacks)
        archive = _zip(api, answer["download_url"])
        assert f"media/media-{org.code}" in archive.namelist()
        assert f"media/media-{other.code}" not in archive.namelist()
        for model in exports.exported_models():
            table = model._meta.db_table
            lines = archive.read(f"tables/{table}.jsonl").decode().splitlines()
            with unscoped():  # the truth to compare with: the database, this organization
                rows = model._base_manager.filter(organization_id=org.pk).values(
                    *exports.exported_columns(model))
                expected = sorted(_normal(row) for row in rows)
            assert sorted(_normal(json.loads(line)) for line in lines) == expected, table
            assert expected or model in (AuditEvent,), f"no {table} row to compare"
        assert "password" not in archive.read("tables/users.jsonl").decode()
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["organization_id"] == str(org.pk)


def test_the_download_link_is_the_organization_admins_and_expires(
        org_a: Organization, org_b: Organization, django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    admin = make_staff(org_a, Role.ORG_ADMIN)
    api = client_for(admin)
    answer = _export(api, django_capture_on_commit_callbacks)
    url, progress = answer["download_url"], f"/api/v1/organization/exports/{answer['id']}/"
    other_admin = make_staff(org_b, Role.ORG_ADMIN)
    assert client_for(other_admin).get(progress).status_code == 404
    assert client_for(other_admin).get(url).status_code == 404
    agent = make_staff(org_a, Role.AGENT)
    assert client_for(agent).get(url).status_code == 403
    assert client_for(agent).post("/api/v1/organization/export/").status_code == 403
    assert api.get(url.replace("token=", "token=x")).status_code == 404
    assert _zip(api, url).namelist()
    monkeypatch.setattr(exports, "LIFETIME", timedelta(seconds=-1))
    assert api.get(url).status_code == 410
    with tenant_context(org_a):
        assert AuditEvent.objects.filter(action=exports.EXPORTED).count() == 1


def _customer_everywhere(org: Organization) -> Customer:
    """A customer named and numbered in every table that can hold them."""
    with tenant_context(org):
        customer = CustomerFactory(wa_id=NUMBER, name=NAME, email="zq@example.com",
                                   attributes={"nick": NAME})
        address = CustomerAddressFactory(customer=customer, full_name=NAME, phone=NUMBER)
        Customer.objects.filter(pk=customer.pk).update(default_address=address)
        for body in (f"I am {NAME}", "call me"):
            MessageFactory(customer=customer, body=body, from_wa_id=NUMBER, media_id=f"m{org.code}",
                           filename=f"{NAME}.pdf", caption=NAME,
                           raw_message={"from": NUMBER, "profile": {"name": NAME}})
        default_storage.save(f"whatsapp-media/{org.pk}/m{org.code}", ContentFile(b"photo"))
        LeadFactory(customer=customer, wa_id=NUMBER, first_name=NAME, phone=NUMBER)
        FlowSessionFactory(customer=customer, answers={"name": NAME})
        ConversationNoteFactory(customer=customer, body=f"{NAME} wants a call")
        ReferrerTrackingFactory(customer=customer, wa_id=NUMBER)
        JobStatusFactory(customer=customer, params={"1": NAME})
        CampaignRecipientFactory(phone_number=NUMBER, name=NAME, params={"1": NAME})
        CampaignLogFactory(phone_number=NUMBER, request_payload={"to": NUMBER})
        WhatsAppApiLogFactory(phone_number=NUMBER, request_payload={"to": NUMBER})
        FlowLogFactory(wa_id=NUMBER, name=NAME, description=NAME)
        ZohoPayloadLogFactory(wa_id=NUMBER, payload={"Last_Name": NAME})
        WebhookDeliveryFactory(payload={"data": {"customer": {"wa_id": NUMBER, "name": NAME}}})
    return customer


def _where_found(org: Organization, *needles: str) -> list[str]:
    """Every text or JSON column of every tenant table holding one of `needles`, as table.col."""
    found = []
    with unscoped():  # the whole database, this organization's rows
        for model in tenant_models():
            for field in model._meta.concrete_fields:
                if field.get_internal_type() not in ("CharField", "TextField", "JSONField",
                                                     "EmailField"):
                    continue
                text = Cast(field.attname, TextField())
                rows = model._base_manager.filter(organization_id=org.pk).annotate(_t=text)
                condition = Q()
                for needle in needles:
                    condition |= Q(_t__icontains=needle)
                if rows.filter(condition).exists():
                    found.append(f"{model._meta.db_table}.{field.column}")
    return found


def test_an_erased_customer_leaves_nothing_personal_and_counts_stay(
        org_a: Organization, org_b: Organization) -> None:
    customer, theirs = _customer_everywhere(org_a), _customer_everywhere(org_b)
    assert "customers.wa_id" in _where_found(org_a, NAME, NUMBER)
    admin = make_staff(org_a, Role.ORG_ADMIN)
    api = client_for(admin)
    assert api.post(f"/api/v1/customers/{theirs.pk}/erase/").status_code == 404
    assert client_for(make_staff(org_a, Role.AGENT)).post(
        f"/api/v1/customers/{customer.pk}/erase/").status_code == 403
    answer = api.post(f"/api/v1/customers/{customer.pk}/erase/")
    assert answer.status_code == 200, answer.content
    assert answer.json()["erased"]["messages"] == 2
    assert _where_found(org_a, NAME, NUMBER, "zq@example.com") == []
    assert not default_storage.exists(f"whatsapp-media/{org_a.pk}/morg-a")
    with tenant_context(org_a):
        erased = Customer.objects.get(pk=customer.pk)
        assert erased.marketing_opt_out_at is not None and erased.wa_id.startswith("erased-")
        assert Message.objects.filter(customer=customer).count() == 2
        event = AuditEvent.objects.get(action="customer.erased")
        assert event.actor_id == admin.pk and event.details["customer"] == str(customer.pk)
    # The other organization's customer with the same name and number is untouched.
    assert "customers.wa_id" in _where_found(org_b, NAME, NUMBER)
    assert default_storage.exists(f"whatsapp-media/{org_b.pk}/morg-b")


def _counts(org: Organization) -> dict[str, int]:
    with unscoped():  # compared per organization, the whole database
        return {m._meta.db_table: m._base_manager.filter(organization_id=org.pk).count()
                for m in tenant_models()}


def test_delete_organization_dry_run_then_deletes_only_that_organization(
        org_a: Organization, org_b: Organization) -> None:
    build_world(org_a, org_b)
    _customer_everywhere(org_a)
    _customer_everywhere(org_b)
    before_a, before_b = _counts(org_a), _counts(org_b)
    out = StringIO()
    call_command("delete_organization", org_a.code, "--dry-run", stdout=out)
    assert f"messages: {before_a['messages']}" in out.getvalue()
    assert "media files: 1" in out.getvalue()
    assert _counts(org_a) == before_a
    call_command("delete_organization", org_a.code, "--batch", "5", stdout=StringIO())
    assert set(_counts(org_a).values()) == {0}
    assert _counts(org_b) == before_b
    assert not default_storage.exists(f"whatsapp-media/{org_a.pk}/morg-a")
    assert default_storage.exists(f"whatsapp-media/{org_b.pk}/morg-b")
    with unscoped():  # the organizations themselves
        assert not Organization.objects.filter(pk=org_a.pk).exists()
        assert Organization.objects.filter(pk=org_b.pk).exists()


def test_key_order_puts_parents_first() -> None:
    ordered, broken = key_order()
    position = {model: index for index, model in enumerate(ordered)}
    assert {f.name for f in broken} <= {"default_address", "last_job"}
    for model in ordered:
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model in position and field not in broken \
                    and field.related_model is not model and field.name != "organization":
                assert position[field.related_model] < position[model], field
    assert OrganizationExport in position


def test_a_failed_export_says_so_and_another_may_be_asked_for(
        org_a: Organization, django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(exports, "write_zip", broken)
    api = client_for(make_staff(org_a, Role.ORG_ADMIN))
    with pytest.raises(OSError), django_capture_on_commit_callbacks(execute=True):
        queued = api.post("/api/v1/organization/export/")
    answer = api.get(f"/api/v1/organization/exports/{queued.json()['id']}/").json()
    assert answer["state"] == "failed" and "try again" in answer["error"]
    assert answer["download_url"] is None
    with django_capture_on_commit_callbacks():
        assert api.post("/api/v1/organization/export/").status_code == 202
        assert api.post("/api/v1/organization/export/").status_code == 409


@pytest.mark.usefixtures("redis_keys")
def test_campaigns_never_message_an_erased_customer(
        org_a: Organization, fake_graph: Any, django_capture_on_commit_callbacks: Any) -> None:
    s = scenario(org_a, customers=2, recipients=0, type=Campaign.Type.TEMPLATE,
                 content={"name": "notice", "language": {"code": "en"}, "category": "utility"})
    erased, kept = s.customers
    with tenant_context(org_a):
        erasure.erase_customer(erased, by=None)
        CampaignCustomerFactory(campaign=s.campaign, customer=erased)  # chosen again
    with tenant_context(org_a), django_capture_on_commit_callbacks(execute=True):
        job = services.run_campaign(s.campaign)
    assert {call.body["to"] for call in fake_graph.sent()} == {kept.wa_id}
    with tenant_context(org_a):
        assert set(job.statuses.values_list("customer_id", flat=True)) == {kept.pk}
