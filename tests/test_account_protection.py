"""Protection and audit: API throttles (429 with Retry-After), sign-in lock-out, the audit log,
and platform staff suspending an organization."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.automation import services as automation
from crm.models import AuditEvent, Customer, Job, Message, Organization, Role, User
from crm.whatsapp.refusals import Refused
from crm.whatsapp.send import send_message
from tenancy.context import tenant_context, unscoped
from tests.account_support import token_for
from tests.factories import JobFactory
from tests.test_admin_support import PASSWORD, make_staff
from tests.test_api import client_for


@pytest.fixture
def admin_a(org_a: Organization) -> User:
    return make_staff(org_a, Role.ORG_ADMIN, "boss")


def _throttled(answer: Any) -> None:
    assert answer.status_code == 429
    assert int(answer["Retry-After"]) > 0


def test_throttles_per_token_per_organization_and_per_address(
    admin_a: User, org_a: Organization, org_b: Organization, settings
) -> None:
    settings.API_THROTTLE_PER_TOKEN = "2/min"
    api = client_for(admin_a)
    assert [api.get("/api/v1/me/").status_code for _ in range(2)] == [200, 200]
    _throttled(api.get("/api/v1/me/"))
    assert client_for(admin_a).get("/api/v1/me/").status_code == 200  # another token

    # B's tokens together: its third request this minute waits; A's own count goes on.
    settings.API_THROTTLE_PER_TOKEN, settings.API_THROTTLE_PER_ORGANIZATION = "100/min", "2/min"
    in_b = [client_for(make_staff(org_b, Role.AGENT)) for _ in range(3)]
    assert [client.get("/api/v1/me/").status_code for client in in_b[:2]] == [200, 200]
    _throttled(in_b[2].get("/api/v1/me/"))
    settings.API_THROTTLE_PER_ORGANIZATION = "10/min"
    assert client_for(admin_a).get("/api/v1/me/").status_code == 200

    settings.API_THROTTLE_ANONYMOUS = "1/min"
    anonymous = APIClient()
    body = {"organization": "org-a", "email": "x@example.com"}
    assert anonymous.post("/api/v1/password-reset/", body, format="json").status_code == 202
    _throttled(anonymous.post("/api/v1/password-reset/", body, format="json"))


def test_repeated_failures_lock_sign_in_from_that_address_only(admin_a: User, settings) -> None:
    settings.SIGNIN_MAX_FAILURES = 2
    assert [token_for("boss", "wrong").status_code for _ in range(2)] == [401, 401]
    _throttled(token_for("boss", PASSWORD))  # the right password waits too
    page = Client().post("/admin/login/", {"username": "boss", "password": PASSWORD,
                                           "next": "/admin/"})
    assert page.status_code == 200 and b"Too many failed sign-ins" in page.content
    elsewhere = APIClient(REMOTE_ADDR="10.9.8.7").post(
        "/api/v1/auth/token/", {"username": "boss", "password": PASSWORD}, format="json")
    assert elsewhere.status_code == 201
    with tenant_context(admin_a.organization_id):
        actions = list(AuditEvent.objects.order_by("created_at").values_list("action", flat=True))
    assert actions.count("user.sign_in_failed") == 2
    assert actions[-2:] == ["user.signed_in", "token.created"]


def test_the_audit_log_is_its_org_admins_to_read(admin_a: User, org_a: Organization) -> None:
    assert Client().post("/admin/login/", {"username": "boss", "password": PASSWORD,
                                           "next": "/admin/"}).status_code == 302
    agent = make_staff(org_a, Role.AGENT, "agent1")
    api = client_for(admin_a)
    api.patch(f"/api/v1/team/{agent.pk}/", {"role": "ORG_ADMIN"}, format="json")
    events = api.get("/api/v1/audit-events/").json()["results"]
    actions = [event["action"] for event in events]
    assert actions[0] == "user.role_changed" and "user.signed_in" in actions
    assert events[0]["details"] == {"user": "agent1", "old": "AGENT", "new": "ORG_ADMIN"}
    reader = client_for(make_staff(org_a, Role.AGENT, "reader"))
    assert reader.get("/api/v1/audit-events/").status_code == 403
    assert api.post("/api/v1/audit-events/", {}, format="json").status_code == 405


def test_platform_staff_suspend_and_reactivate_an_organization(
    admin_a: User, org_a: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = client_for(make_staff(None, Role.SUPER_ADMIN, "root"))
    staff_api = client_for(admin_a)
    with tenant_context(org_a):
        job = JobFactory(state=Job.State.RUNNING)
        customer = Customer.objects.create(wa_id="919800000009", name="C")
        inbound = Message.objects.create(customer=customer, sender_type="customer", body="hi")
    assert staff_api.post(f"/api/v1/platform/organizations/{org_a.pk}/suspend/").status_code \
        == 403
    answer = root.post(f"/api/v1/platform/organizations/{org_a.pk}/suspend/")
    assert answer.status_code == 200 and answer.json()["is_active"] is False
    assert token_for("boss", PASSWORD).status_code == 401
    assert staff_api.get("/api/v1/me/").status_code == 403
    monkeypatch.setattr(automation, "_decide", lambda inbound: pytest.fail("acted on"))
    with tenant_context(org_a):
        assert Job.objects.get(pk=job.pk).state == Job.State.STOPPED
        assert automation.run_for_message(inbound.pk) == []  # stored, not acted on
        with pytest.raises(Refused) as refused:
            send_message(customer, {"type": "text", "text": {"body": "hello"}})
    assert "suspended" in refused.value.detail
    usage = {row["code"]: row for row in root.get("/api/v1/platform/organizations/").json()}
    assert usage["org-a"]["is_active"] is False and usage["org-a"]["users"] >= 1
    assert usage["org-a"]["customers"] == 1 and usage["org-b"]["is_active"] is True
    assert root.post(f"/api/v1/platform/organizations/{org_a.pk}/reactivate/").json()[
        "is_active"] is True
    assert token_for("boss", PASSWORD).status_code == 201
    with unscoped():
        assert Organization.objects.get(pk=org_a.pk).is_active
    assert staff_api.get("/api/v1/platform/organizations/").status_code == 403
