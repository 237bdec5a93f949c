"""Credential changes are audited: integration credentials stored, replaced or deleted (API and
admin) and webhook subscriptions created or deleted name who, which provider or receiver and
what happened, never a secret; the ORG_ADMIN reads them in the audit log."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from crm.models import AuditEvent, IntegrationCredential, Organization, Role, User
from crm.models import WebhookSubscription
from crm.outgoing import addresses
from tenancy.context import tenant_context
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for

KEY_SECRET = "sk-audit-never-shown-77"
WEBHOOK_SECRET = "whsec-audit-never-shown-78"
RAZORPAY = {"key_id": "rzp_test_a", "key_secret": KEY_SECRET, "webhook_secret": WEBHOOK_SECRET}
URL = "/api/v1/integrations/razorpay/"
HOOK = "https://hooks.example.com/in?token=receiver-own-token-79"


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every receiver's host resolves to a public address (no real DNS)."""
    monkeypatch.setattr(addresses, "resolve", lambda host, port: ["93.184.216.34"])
    yield


@pytest.fixture
def admin_a(org_a: Organization) -> User:
    return make_staff(org_a, Role.ORG_ADMIN, "credboss")


def _entries(org: Organization, prefix: str) -> list[AuditEvent]:
    with tenant_context(org):
        return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("created_at"))


def _no_secret(*texts: str, secrets: tuple[str, ...]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_integration_credentials_changed_by_the_api_are_audited_without_secrets(
        admin_a: User, org_a: Organization, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = client_for(admin_a)
    assert api.put(URL, RAZORPAY, format="json").status_code == 200
    assert api.put(URL, {**RAZORPAY, "key_secret": KEY_SECRET + "-new"},
                   format="json").status_code == 200
    assert api.delete(URL).status_code == 204
    entries = _entries(org_a, "integration.")
    assert [(e.action, e.actor_name, e.details) for e in entries] == [
        ("integration.credentials_stored", "credboss", {"provider": "razorpay"}),
        ("integration.credentials_replaced", "credboss", {"provider": "razorpay"}),
        ("integration.credentials_deleted", "credboss", {"provider": "razorpay"}),
    ]
    log = api.get("/api/v1/audit-events/?action=integration.credentials_replaced")
    assert log.status_code == 200 and len(log.json()["results"]) == 1
    _no_secret(json.dumps([e.details for e in entries]), log.content.decode(), caplog.text,
               api.get("/api/v1/audit-events/").content.decode(),
               secrets=(KEY_SECRET, WEBHOOK_SECRET))


def test_integration_credentials_changed_in_the_admin_are_audited(
        admin_a: User, org_a: Organization) -> None:
    client = signed_in(admin_a)
    assert client.post(admin_url(IntegrationCredential, "add"), {
        "provider": "razorpay", "config": json.dumps({"key_id": "rzp_test_a"}),
        "new_secrets": json.dumps({"key_secret": KEY_SECRET, "webhook_secret": WEBHOOK_SECRET}),
    }).status_code == 302
    with tenant_context(org_a):
        row = IntegrationCredential.objects.get()
    assert client.post(admin_url(IntegrationCredential, "change", row), {
        "config": json.dumps({"key_id": "rzp_test_b"}), "new_secrets": ""}).status_code == 302
    assert client.post(admin_url(IntegrationCredential, "delete", row),
                       {"post": "yes"}).status_code == 302
    assert [e.action for e in _entries(org_a, "integration.")] == [
        "integration.credentials_stored", "integration.credentials_replaced",
        "integration.credentials_deleted"]
    page = client.get(admin_url(AuditEvent)).content.decode()  # the ORG_ADMIN's audit log
    assert "integration.credentials_deleted" in page and "razorpay" in page
    _no_secret(page, secrets=(KEY_SECRET, WEBHOOK_SECRET))


def test_webhook_subscriptions_created_and_deleted_are_audited_without_secrets(
        admin_a: User, org_a: Organization, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = client_for(admin_a)
    created = api.post("/api/v1/webhook-subscriptions/", {"url": HOOK, "events": [
        "lead.created", "order.paid"]}, format="json")
    assert created.status_code == 201, created.content
    secret, pk = created.json()["secret"], created.json()["id"]
    assert api.delete(f"/api/v1/webhook-subscriptions/{pk}/").status_code == 204
    client = signed_in(admin_a)
    assert client.post(admin_url(WebhookSubscription, "add"), {
        "url": "https://other.example.com/hook", "events": '["lead.created"]',
        "description": "", "is_active": "on"}).status_code == 302
    with tenant_context(org_a):
        by_admin = WebhookSubscription.objects.get()
    assert client.post(admin_url(WebhookSubscription, "delete", by_admin),
                       {"post": "yes"}).status_code == 302
    entries = _entries(org_a, "webhook_subscription.")
    assert [(e.action, e.actor_name, e.details["host"]) for e in entries] == [
        ("webhook_subscription.created", "credboss", "hooks.example.com"),
        ("webhook_subscription.deleted", "credboss", "hooks.example.com"),
        ("webhook_subscription.created", "credboss", "other.example.com"),
        ("webhook_subscription.deleted", "credboss", "other.example.com"),
    ]
    assert entries[0].details == {"subscription": pk, "host": "hooks.example.com",
                                  "events": "lead.created, order.paid"}
    log = api.get("/api/v1/audit-events/").content.decode()
    assert "webhook_subscription.created" in log
    _no_secret(log, caplog.text, json.dumps([e.details for e in entries]),
               secrets=(secret, by_admin.secret, "receiver-own-token-79"))


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_credential_entries_are_not_read(
        admin_a: User, org_a: Organization, org_b: Organization) -> None:
    admin_b = make_staff(org_b, Role.ORG_ADMIN)
    assert client_for(admin_b).put(URL, RAZORPAY, format="json").status_code == 200
    with tenant_context(org_b):
        theirs = AuditEvent.objects.get(action="integration.credentials_stored")
    api = client_for(admin_a)
    assert api.get(f"/api/v1/audit-events/{theirs.pk}/").status_code == 404
    assert all(e["action"] != "integration.credentials_stored"
               for e in api.get("/api/v1/audit-events/").json()["results"])
    assert api.delete(URL).status_code == 404  # A has none; B's stay, with no entry in A
    assert _entries(org_a, "integration.") == []
    assert [e.action for e in _entries(org_b, "integration.")] == [
        "integration.credentials_stored"]
