"""REST API: every resource answers as one organization; other organizations' rows are 404."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from crm.api.resources import RESOURCES, Resource
from crm.api.serializers import serializer_for
from crm.api.views import ReadOnlyTenantViewSet
from crm.models import (
    ApiToken,
    Campaign,
    JobStatus,
    Message,
    Order,
    Organization,
    Role,
    Template,
    User,
    WhatsAppNumber,
)
from tenancy.context import tenant_context, unscoped
from tenancy.guards import tenant_foreign_keys
from tests.factories import ALL_FACTORIES, UserFactory, model_of

FACTORIES = {model_of(f): f for f in ALL_FACTORIES}
TENANT = list(RESOURCES)
WRITABLE = [r for r in TENANT if not issubclass(r.base, ReadOnlyTenantViewSet)]
# Templates are created on Meta first (tests/test_whatsapp_templates.py covers that); orders from
# their items, priced by the server (tests/test_orders.py).
CREATABLE = [r for r in WRITABLE if r.model not in (Template, Order)]
# Keys the API can set (a non-editable one, such as messages.campaign_job, is ignored on input).
REFERENCES = [(r, fk.name) for r in WRITABLE for fk in tenant_foreign_keys(r.model)
              if fk.name not in ("created_by", "updated_by") and fk.editable]


def _ids(resources: list[Resource]) -> list[str]:
    return [r.prefix for r in resources]


def client_for(user: User) -> APIClient:
    """An API client authenticated with a real token of `user`."""
    scope = tenant_context(user.organization_id) if user.organization_id else unscoped()
    with scope:
        _, key = ApiToken.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def staff(org: Organization | None, role: str = Role.ORG_ADMIN) -> User:
    """A user of `org` (platform staff when None) with `role`."""
    trait = {Role.ORG_ADMIN: "org_admin", Role.SUPER_ADMIN: "super_admin"}.get(role)
    scope = tenant_context(org) if org else unscoped()
    with scope:
        return UserFactory(**({trait: True} if trait else {}))


def make(model: type[models.Model], org: Organization, **kwargs: Any) -> Any:
    """A row of `model` in `org`."""
    with tenant_context(org):
        return FACTORIES[model](**kwargs)


def key_of(obj: Any) -> str:
    """The key the API shows and looks the row up by."""
    return f"{obj.job_id}:{obj.customer_id}" if isinstance(obj, JobStatus) else str(obj.pk)


def detail_url(resource: Resource, obj: Any) -> str:
    return f"/api/v1/{resource.prefix}/{key_of(obj)}/"


def missing_url(resource: Resource) -> str:
    """The detail URL of a row that exists nowhere."""
    pk = resource.model._meta.pk
    key = {"AutoField": "2147483000", "UUIDField": str(uuid.uuid4())}.get(
        pk.get_internal_type(), "no-such-row"
    )
    if isinstance(pk, models.CompositePrimaryKey):
        key = f"{uuid.uuid4()}:{uuid.uuid4()}"
    return f"/api/v1/{resource.prefix}/{key}/"


def keys_listed(resource: Resource, body: dict[str, Any]) -> set[str]:
    name = "id" if resource.model is JobStatus else resource.model._meta.pk.name
    return {str(row[name]) for row in body["results"]}


def payload(resource: Resource, obj: Any, org: Organization) -> dict[str, Any]:
    """What a client would POST to recreate `obj` (its row deleted first, to free unique values)."""
    with tenant_context(org):
        data = dict(serializer_for(resource.model)(obj).data)
        if isinstance(obj, User):
            data["password"] = "a-long-enough-password"
        if isinstance(obj, WhatsAppNumber):
            data["access_token"] = "EAAG-secret"
        resource.model._default_manager.filter(pk=obj.pk).delete()
    for name in ("id", "organization", "created_at", "updated_at", "created_by", "updated_by"):
        data.pop(name, None)
    return data


@pytest.fixture
def admin_a(org_a: Organization) -> User:
    return staff(org_a)


@pytest.fixture
def api_a(admin_a: User) -> APIClient:
    return client_for(admin_a)


@pytest.mark.parametrize("resource", TENANT, ids=_ids(TENANT))
def test_list_is_paginated_and_holds_only_own_rows(resource, api_a, org_a, org_b) -> None:
    mine, theirs = make(resource.model, org_a), make(resource.model, org_b)
    response = api_a.get(f"/api/v1/{resource.prefix}/", {"page_size": 500})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert key_of(mine) in keys_listed(resource, body)
    assert key_of(theirs) not in keys_listed(resource, body)
    assert all(row.get("organization") in (str(org_a.pk), None) for row in body["results"])


@pytest.mark.usefixtures("python_scope")  # with PostgreSQL's policies alone too
@pytest.mark.parametrize("resource", TENANT, ids=_ids(TENANT))
def test_another_organizations_object_is_404(resource, api_a, org_b) -> None:
    theirs = make(resource.model, org_b)
    url = detail_url(resource, theirs)
    methods = ("get",) if issubclass(resource.base, ReadOnlyTenantViewSet) else (
        "get", "patch", "put", "delete")
    for method in methods:
        missing = getattr(api_a, method)(missing_url(resource), {}, format="json")
        response = getattr(api_a, method)(url, {}, format="json")
        assert (response.status_code, response.json()) == (404, missing.json()), method
    with unscoped():
        assert resource.model._default_manager.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(("resource", "field"), REFERENCES,
                         ids=[f"{r.prefix}.{f}" for r, f in REFERENCES])
def test_a_reference_to_another_organizations_row_is_400(resource, field, api_a, org_a,
                                                         org_b) -> None:
    data = payload(resource, make(resource.model, org_a), org_a)
    parent = resource.model._meta.get_field(field).related_model
    theirs = make(parent, org_b)
    target = resource.model._meta.get_field(field).target_field.attname
    data[field] = str(getattr(theirs, target))
    response = api_a.post(f"/api/v1/{resource.prefix}/", data, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("resource", CREATABLE, ids=_ids(CREATABLE))
def test_created_rows_belong_to_the_callers_organization(resource, api_a, org_a,
                                                         org_b) -> None:
    data = payload(resource, make(resource.model, org_a), org_a)
    data["organization"] = str(org_b.pk)
    response = api_a.post(f"/api/v1/{resource.prefix}/", data, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["organization"] == str(org_a.pk)
    with tenant_context(org_a):
        assert resource.model._default_manager.count() >= 1
    with tenant_context(org_b):
        assert not resource.model._default_manager.exists()


@pytest.mark.parametrize("resource", [r for r in TENANT if r not in WRITABLE],
                         ids=_ids([r for r in TENANT if r not in WRITABLE]))
def test_log_tables_are_read_only(resource, api_a, org_a) -> None:
    row = make(resource.model, org_a)
    for response in (api_a.post(f"/api/v1/{resource.prefix}/", {}, format="json"),
                     api_a.patch(detail_url(resource, row), {}, format="json"),
                     api_a.delete(detail_url(resource, row))):
        assert response.status_code in (403, 405)
    with tenant_context(org_a):
        assert resource.model._default_manager.filter(pk=row.pk).exists()


@pytest.mark.parametrize("resource", TENANT, ids=_ids(TENANT))
def test_list_queries_do_not_grow_with_the_page(resource, api_a, org_a) -> None:
    for _ in range(3):
        make(resource.model, org_a)
    counts = []
    for size in (1, 3):
        with CaptureQueriesContext(connection) as captured:
            assert api_a.get(f"/api/v1/{resource.prefix}/", {"page_size": size}).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


@pytest.mark.usefixtures("python_scope")
@pytest.mark.parametrize("raw", [["a", "list"], "a string", 5], ids=["list", "string", "number"])
def test_a_recorded_messages_raw_message_is_an_object(world: Any, raw: Any) -> None:
    client = client_for(staff(world.a))
    created = client.post("/api/v1/messages/", {"customer": str(world.customer_a.pk),
                                                "body": "hi", "raw_message": raw}, format="json")
    assert created.status_code == 400
    assert created.json()["raw_message"][0].startswith("The message as WhatsApp sent")
    url = f"/api/v1/messages/{world.message_a.pk}/"
    patched = client.patch(url, {"raw_message": raw}, format="json")
    assert patched.status_code == 400 and "raw_message" in patched.json()
    with tenant_context(world.a):  # a row stored before the check is still read
        Message.objects.filter(pk=world.message_a.pk).update(raw_message=raw)
    assert client.get(url).json()["raw_message"] == raw
    listed = client.get("/api/v1/messages/", {"customer": str(world.customer_a.pk)})
    assert listed.status_code == 200 and listed.json()["count"] == 1


UNSTORABLE = [("\ud800", "content.body"), ("a\x00b", "content.body")]


@pytest.mark.parametrize("text, where", UNSTORABLE, ids=["lone-surrogate", "nul"])
def test_json_postgresql_refuses_is_400_naming_the_field(
    world: Any, text: str, where: str
) -> None:
    client = client_for(staff(world.a))
    campaign = make(Campaign, world.a)
    url = f"/api/v1/campaigns/{campaign.pk}/"
    as_json = client.patch(url, json.dumps({"content": {"body": text}}),
                           content_type="application/json")
    assert as_json.status_code == 400
    assert as_json.json()["detail"].startswith(f"{where}: holds a NUL character, a lone")
    as_form = client.patch(url, {"content": json.dumps({"body": text})}, format="multipart")
    assert as_form.status_code == 400
    assert as_form.json()["content"][0].startswith("body: holds a NUL character, a lone")
    template = {"name": "offer", "category": "MARKETING",
                "components": [{"type": "BODY", "text": text}]}
    created = client.post("/api/v1/templates/", json.dumps(template),
                          content_type="application/json")
    assert created.status_code == 400
    assert created.json()["detail"].startswith("components[0].text: holds a NUL character")
    with tenant_context(world.a):
        assert Campaign.objects.get(pk=campaign.pk).content == campaign.content


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"content": 1e400}'],
                         ids=["nested-too-deeply", "number-out-of-range"])
def test_json_python_cannot_read_or_postgresql_store_is_400(world: Any, body: bytes) -> None:
    campaign = make(Campaign, world.a)
    answer = client_for(staff(world.a)).patch(f"/api/v1/campaigns/{campaign.pk}/", body,
                                              content_type="application/json")
    assert answer.status_code == 400 and answer.json()["detail"]
