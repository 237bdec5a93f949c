"""Secrets are write-only: masked in lists and forms, replaceable, never read back or filtered."""
from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from crm.admin.scoping import ALL
from crm.roles import AGENT_HIDDEN_IN_ADMIN
from crm.models import (
    ApiToken,
    Customer,
    NumberFlowConfig,
    Role,
    User,
    WebhookSubscription,
    WhatsAppApiLog,
    WhatsAppNumber,
)
from tenancy.context import tenant_context
from tests.factories import UserFactory, WhatsAppApiLogFactory, WhatsAppNumberFactory
from tests.test_admin_support import admin_url, make_staff, signed_in

TOKEN = "EAAG-secret-token-value-0123456789"


@pytest.fixture
def number(org_a) -> WhatsAppNumber:
    with tenant_context(org_a):
        return WhatsAppNumberFactory(access_token=TOKEN)


def _clients(org_a):
    return {
        "org_admin": signed_in(make_staff(org_a, Role.ORG_ADMIN)),
        "agent": signed_in(make_staff(org_a, Role.AGENT)),
        "super_all": signed_in(make_staff(None, Role.SUPER_ADMIN), ALL),
    }


def test_the_access_token_never_shows(number, org_a) -> None:
    for kind, client in _clients(org_a).items():
        for url in (admin_url(WhatsAppNumber), admin_url(WhatsAppNumber, "change", number),
                    admin_url(NumberFlowConfig, "add") if kind != "agent" else "/admin/"):
            page = client.get(url)
            assert page.status_code == 200, (kind, url)
            assert TOKEN not in page.content.decode(), (kind, url)
        listed = client.get(admin_url(WhatsAppNumber)).content.decode()
        assert "set (hidden)" in listed


def test_the_access_token_is_replaced_kept_or_removed_never_echoed(number, org_a) -> None:
    client = _clients(org_a)["org_admin"]
    url = admin_url(WhatsAppNumber, "change", number)
    form = client.get(url).context["adminform"].form
    assert "access_token" not in form.fields and "new_access_token" in form.fields
    base = {"phone_number_id": number.phone_number_id, "display_number": "+91 1",
            "webhook_path": "/w", "is_active": "on", "messages_per_second": "80"}

    def stored() -> str | None:
        with tenant_context(org_a):
            return WhatsAppNumber.objects.get(pk=number.pk).access_token

    assert client.post(url, base).status_code == 302
    assert stored() == TOKEN  # left empty: kept
    refused = client.post(url, {**base, "phone_number_id": "", "new_access_token": "typed-x1"})
    assert "typed-x1" not in refused.content.decode()  # a re-shown form does not echo it
    assert client.post(url, {**base, "new_access_token": "EAAG-new-token"}).status_code == 302
    assert stored() == "EAAG-new-token"
    assert client.post(url, {**base, "remove_access_token": "on"}).status_code == 302
    assert stored() is None
    history = " ".join(LogEntry.objects.values_list("change_message", flat=True))
    assert "EAAG" not in history and TOKEN not in history
    added = client.post(admin_url(WhatsAppNumber, "add"), {
        **base, "phone_number_id": "555000", "new_access_token": "EAAG-fresh"})
    assert added.status_code == 302
    with tenant_context(org_a):
        assert WhatsAppNumber.objects.get(phone_number_id="555000").access_token == "EAAG-fresh"


@pytest.mark.parametrize("model, lookup", [
    (WhatsAppNumber, "access_token__startswith"),
    (WhatsAppNumber, "access_token"),
    (User, "password__startswith"),
    (Customer, "user__password__startswith"),
    (ApiToken, "key_hash__startswith"),
    (ApiToken, "user__password__startswith"),
    (WhatsAppApiLog, "request_headers__Authorization__startswith"),
    (WebhookSubscription, "secret__startswith"),  # encrypted, still never filtered on
])
def test_no_filter_reads_a_secret(model, lookup, number, org_a) -> None:
    for kind, client in _clients(org_a).items():
        answer = client.get(admin_url(model), {lookup: "E"})
        # Agents do not see API tokens and logs at all (crm.roles.AGENT_HIDDEN_IN_ADMIN).
        hidden = kind == "agent" and model._meta.model_name in AGENT_HIDDEN_IN_ADMIN
        assert answer.status_code == (403 if hidden else 400), (model, lookup)


def test_logged_request_headers_are_masked(org_a) -> None:
    with tenant_context(org_a):
        log = WhatsAppApiLogFactory(request_headers={"Authorization": f"Bearer {TOKEN}",
                                                     "Content-Type": "application/json"})
    for kind, client in _clients(org_a).items():
        answer = client.get(admin_url(WhatsAppApiLog, "change", log))
        if kind == "agent":  # logs are hidden from agents
            assert answer.status_code == 403
            continue
        page = answer.content.decode()
        assert TOKEN not in page and "application/json" in page and "(hidden)" in page


def test_an_api_token_is_shown_once_and_stored_hashed(org_a) -> None:
    client = _clients(org_a)["org_admin"]
    with tenant_context(org_a):
        owner = UserFactory()
    answer = client.post(admin_url(ApiToken, "add"), {"user": str(owner.pk)}, follow=True)
    shown = [str(m) for m in answer.context["messages"] if "API token is" in str(m)]
    key = shown[0].split("The new API token is ")[1].split(" ")[0]
    with tenant_context(org_a):
        token = ApiToken.objects.get(user=owner)
    assert token.key_hash == ApiToken.hash(key) and key not in token.key_hash
    page = client.get(admin_url(ApiToken, "change", token)).content.decode()
    assert key not in page and token.key_hash not in page
    assert token.key_hash not in client.get(admin_url(ApiToken)).content.decode()
