"""Issue 18's remaining checks: an expired password-reset link, a reused confirmation link, and
isolation with the Python scope off of what sign-up, the onboarding checklist, password reset
and suspension touch, and the demo printing every e-mail in its terminal."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from rest_framework.test import APIClient

from crm.accounts import queries
from crm.models import AuditEvent, Customer, Organization, Role, User, WhatsAppNumber
from tenancy.context import tenant_context, unscoped
from tests.account_support import STRONG, link_token, mailed, sign_up, token_for, with_token
from tests.factories import (
    CustomerFactory,
    InvitationFactory,
    MessageFactory,
    WhatsAppNumberFactory,
)
from tests.test_admin_support import PASSWORD, make_staff
from tests.test_api import client_for


@pytest.fixture
def admin_a(org_a: Organization) -> User:
    return make_staff(org_a, Role.ORG_ADMIN, "boss")


def _reset_link(email: str, organization: str = "org-a") -> str:
    with mailed():
        assert APIClient().post("/api/v1/password-reset/", {
            "organization": organization, "email": email}, format="json").status_code == 202
    return link_token("/password-reset/", email)


def test_an_expired_password_reset_link_is_refused(admin_a: User, settings) -> None:
    token = _reset_link(admin_a.email)
    settings.PASSWORD_RESET_HOURS = 0
    expired = APIClient().post("/api/v1/password-reset/confirm/", {
        "token": token, "password": STRONG}, format="json")
    assert expired.status_code == 400 and "token" in expired.json()
    assert token_for("boss", PASSWORD).status_code == 201  # the password stayed


def test_a_reused_confirmation_link_changes_nothing_more(db: None) -> None:
    assert sign_up().status_code == 201
    token = link_token("/signup/confirm/")
    for _ in range(2):
        answer = APIClient().post("/api/v1/signup/confirm/", {"token": token}, format="json")
        assert answer.status_code == 200 and answer.json()["email_confirmed"] is True
    with unscoped():  # the new organization's log, read by the test across organizations
        assert AuditEvent.objects.filter(action="organization.email_confirmed").count() == 1


@pytest.mark.usefixtures("python_scope")
def test_the_checklist_ticks_off_only_what_its_own_organization_did(
        org_a: Organization, org_b: Organization) -> None:
    with tenant_context(org_b):
        WhatsAppNumberFactory()
        InvitationFactory()
        MessageFactory(sender_type="agent")
        make_staff(org_b, Role.AGENT)
    with tenant_context(org_a):
        assert [step.done for step in queries.checklist(org_a)] == [True, False, False, False]
    with tenant_context(org_b):
        assert WhatsAppNumber.objects.count() == 1
        assert [step.done for step in queries.checklist(org_b)] == [True, True, True, True]


@pytest.mark.usefixtures("python_scope")
def test_a_signed_up_organization_sees_nothing_of_the_others(
        admin_a: User, org_a: Organization) -> None:
    with tenant_context(org_a):
        CustomerFactory(name="A's customer")
    answer = sign_up(username="boss")  # A's admin's username, in a new organization
    assert answer.status_code == 201, answer.json()
    code = answer.json()["organization"]["code"]
    api = with_token(token_for("boss", organization=code).json()["token"])
    assert api.get("/api/v1/customers/").json()["results"] == []
    assert [u["username"] for u in api.get("/api/v1/team/").json()["results"]] == ["boss"]
    assert api.get("/api/v1/organization/").json()["code"] == code
    assert {e["actor_name"] for e in api.get("/api/v1/audit-events/").json()["results"]} == {
        "boss"}
    assert api.get(f"/api/v1/team/{admin_a.pk}/").status_code == 404
    with tenant_context(org_a):
        assert Customer.objects.count() == 1
        assert not AuditEvent.objects.filter(action="organization.signed_up").exists()


@pytest.mark.usefixtures("python_scope")
def test_a_reset_link_is_sent_only_for_a_user_of_the_named_organization(
        admin_a: User, org_b: Organization) -> None:
    sent = len(mail.outbox)
    with mailed():
        assert APIClient().post("/api/v1/password-reset/", {
            "organization": "org-b", "email": admin_a.email}, format="json").status_code == 202
    assert len(mail.outbox) == sent
    user_b = make_staff(org_b, Role.AGENT, "boss")  # the same username in B
    token = _reset_link(user_b.email, "org-b")
    assert APIClient().post("/api/v1/password-reset/confirm/", {
        "token": token, "password": STRONG}, format="json").status_code == 200
    assert token_for("boss", STRONG, organization="org-b").status_code == 201
    assert token_for("boss", PASSWORD, organization="org-a").status_code == 201  # A's unchanged


@pytest.mark.usefixtures("python_scope")
def test_suspending_one_organization_leaves_the_other_working(
        admin_a: User, org_a: Organization, org_b: Organization) -> None:
    admin_b = make_staff(org_b, Role.ORG_ADMIN, "boss-b")
    api_b = client_for(admin_b)
    root = client_for(make_staff(None, Role.SUPER_ADMIN, "root"))
    assert root.post(f"/api/v1/platform/organizations/{org_a.pk}/suspend/").status_code == 200
    assert token_for("boss", PASSWORD).status_code == 401
    assert api_b.get("/api/v1/me/").status_code == 200
    assert token_for("boss-b", PASSWORD).status_code == 201
    with tenant_context(org_b):
        assert not AuditEvent.objects.filter(action="organization.suspended").exists()
    with unscoped():
        assert Organization.objects.get(pk=org_b.pk).is_active


def test_the_demo_prints_each_e_mail_in_its_terminal() -> None:
    """bin/run's environment (DEBUG on, no EMAIL_URL): the e-mails go to the console."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "PYTEST_")) and k not in ("EMAIL_URL", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="crm.settings", DEBUG="true", WBCRM_DEMO="true")
    code = ("import django; django.setup(); from crm.accounts import mail; "
            "mail.invitation('asha@example.com', 'Sunrise Clinic', 'AGENT', "
            "'http://localhost:8000/invitations/the-token/')")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            cwd=Path(__file__).resolve().parent.parent, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "To: asha@example.com" in result.stdout
    assert "http://localhost:8000/invitations/the-token/" in result.stdout
