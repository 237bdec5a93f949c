"""The team: invitations (one-time, expiring links), joining, password reset by e-mail, roles
and deactivation by the ORG_ADMIN, GET /api/v1/me/; never reaching another organization."""
from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from crm.models import ApiToken, Invitation, Organization, Role, User
from tenancy.context import tenant_context
from tests.account_support import STRONG, link_token, mailed, token_for, with_token
from tests.test_admin_support import PASSWORD, make_staff, signed_in
from tests.test_api import client_for


@pytest.fixture
def admin_a(org_a: Organization) -> User:
    return make_staff(org_a, Role.ORG_ADMIN, "boss")


def _invite(client: APIClient, email: str = "asha@example.com", role: str = "AGENT") -> Any:
    with mailed():
        return client.post("/api/v1/invitations/", {"email": email, "role": role},
                           format="json")


def _accept(token: str, username: str = "asha") -> Any:
    return APIClient().post("/api/v1/invitations/accept/", {
        "token": token, "username": username, "password": STRONG, "name": "Asha K"},
        format="json")


def test_an_invitation_is_accepted_once_and_the_new_agent_signs_in(admin_a: User) -> None:
    api = client_for(admin_a)
    invited = _invite(api)
    assert invited.status_code == 201 and invited.json()["state"] == "pending"
    assert mail.outbox[-1].to == ["asha@example.com"]
    token = link_token("/invitations/", "asha@example.com")
    page = Client().get(f"/invitations/{token}/")
    assert page.status_code == 200 and b"Join Org A" in page.content
    joined = _accept(token)
    assert joined.status_code == 201, joined.json()
    again = _accept(token, "asha2")
    assert again.status_code == 400 and "token" in again.json()
    signed = token_for("asha", organization="org-a")
    assert signed.status_code == 201
    me = with_token(signed.json()["token"]).get("/api/v1/me/").json()
    assert me["role"] == "AGENT" and me["email"] == "asha@example.com"
    listed = api.get("/api/v1/invitations/").json()["results"]
    assert [row["state"] for row in listed] == ["accepted"]


def test_expired_resent_and_revoked_links_are_refused(admin_a: User, settings) -> None:
    api = client_for(admin_a)
    first = _invite(api).json()
    old = link_token("/invitations/")
    with mailed():
        assert api.post(f"/api/v1/invitations/{first['id']}/resend/").status_code == 200
    new = link_token("/invitations/")
    assert new != old and _accept(old).status_code == 400  # only the newest link works
    settings.INVITATION_DAYS = 0
    assert _accept(new).status_code == 400  # expired
    settings.INVITATION_DAYS = 7
    assert api.delete(f"/api/v1/invitations/{first['id']}/").status_code == 204
    assert _accept(new).status_code == 400  # revoked
    with tenant_context(admin_a.organization_id):
        assert not User.objects.filter(username="asha").exists()


def test_only_an_org_admin_invites_and_never_above_org_admin(
    admin_a: User, org_a: Organization
) -> None:
    agent = make_staff(org_a, Role.AGENT, "agent1")
    assert _invite(client_for(agent)).status_code == 403
    assert _invite(client_for(admin_a), role="SUPER_ADMIN").status_code == 400
    assert _invite(client_for(admin_a), email=agent.email).status_code == 409


def test_password_reset_never_says_whether_an_address_exists(admin_a: User) -> None:
    api = APIClient()
    sent = len(mail.outbox)
    for organization, email in (("org-a", "nobody@example.com"), ("org-b", admin_a.email),
                                ("no-such-org", admin_a.email)):
        answer = api.post("/api/v1/password-reset/", {"organization": organization,
                                                      "email": email}, format="json")
        assert answer.status_code == 202
        assert answer.json()["detail"].startswith("If this address belongs")
    assert len(mail.outbox) == sent
    mine = api.post("/api/v1/password-reset/", {"organization": "org-a",
                                                "email": admin_a.email}, format="json")
    assert mine.status_code == 202 and len(mail.outbox) == sent + 1
    token = link_token("/password-reset/", admin_a.email)
    old_key = token_for("boss", PASSWORD, organization="org-a").json()["token"]
    changed = api.post("/api/v1/password-reset/confirm/", {"token": token,
                                                           "password": STRONG}, format="json")
    assert changed.status_code == 200
    reused = api.post("/api/v1/password-reset/confirm/", {"token": token,
                                                          "password": STRONG + "x"}, format="json")
    assert reused.status_code == 400 and "token" in reused.json()
    assert token_for("boss", STRONG, organization="org-a").status_code == 201
    assert with_token(old_key).get("/api/v1/me/").status_code == 401  # old tokens ended


def test_the_org_admin_changes_roles_up_to_org_admin_and_deactivates(
    admin_a: User, org_a: Organization
) -> None:
    agent = make_staff(org_a, Role.AGENT, "agent1")
    agent_api = client_for(agent)
    browser = signed_in(agent)
    api = client_for(admin_a)
    raised = api.patch(f"/api/v1/team/{agent.pk}/", {"role": "ORG_ADMIN"}, format="json")
    assert raised.status_code == 200 and raised.json()["role"] == "ORG_ADMIN"
    above = api.patch(f"/api/v1/team/{agent.pk}/", {"role": "SUPER_ADMIN"}, format="json")
    assert above.status_code == 400 and "role" in above.json()
    gone = api.post(f"/api/v1/team/{agent.pk}/deactivate/")
    assert gone.status_code == 200 and gone.json()["is_active"] is False
    assert agent_api.get("/api/v1/me/").status_code == 401  # tokens end
    assert browser.get("/inbox/").status_code == 302  # the session ends
    assert token_for("agent1", PASSWORD).status_code == 401
    with tenant_context(org_a):
        assert not ApiToken.objects.filter(user=agent).exists()
    assert api.post(f"/api/v1/team/{admin_a.pk}/deactivate/").status_code == 403  # not oneself
    back = api.post(f"/api/v1/team/{agent.pk}/reactivate/")
    assert back.status_code == 200 and token_for("agent1", PASSWORD).status_code == 201


def test_the_last_org_admin_stays(admin_a: User) -> None:
    demoted = client_for(admin_a).patch(f"/api/v1/team/{admin_a.pk}/", {"role": "AGENT"},
                                        format="json")
    assert demoted.status_code == 409 and "last active ORG_ADMIN" in demoted.json()["detail"]


def test_the_team_page_invites_and_deactivates(admin_a: User, org_a: Organization) -> None:
    agent = make_staff(org_a, Role.AGENT, "agent1")
    page = signed_in(admin_a)
    assert page.get("/team/").status_code == 200
    assert page.post("/team/", {"email": "new@example.com", "role": "AGENT"}).status_code == 302
    assert page.post(f"/team/users/{agent.pk}/", {"do": "deactivate"}).status_code == 302
    with tenant_context(org_a):
        assert not User.objects.get(pk=agent.pk).is_active
        assert Invitation.objects.filter(email="new@example.com").exists()
    assert signed_in(agent).get("/team/").status_code == 302  # deactivated: signed out


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_team_invitations_and_log_are_not_found(
    admin_a: User, org_b: Organization
) -> None:
    admin_b = make_staff(org_b, Role.ORG_ADMIN, "boss-b")
    invitation_b = _invite(client_for(admin_b), "b@example.com").json()
    api = client_for(admin_a)
    assert _invite(api, "a@example.com").status_code == 201
    assert [row["email"] for row in api.get("/api/v1/invitations/").json()["results"]] == [
        "a@example.com"]
    for path in (f"/api/v1/invitations/{invitation_b['id']}/",
                 f"/api/v1/team/{admin_b.pk}/"):
        assert api.get(path).status_code == 404
    for path in (f"/api/v1/invitations/{invitation_b['id']}/revoke/",
                 f"/api/v1/invitations/{invitation_b['id']}/resend/",
                 f"/api/v1/team/{admin_b.pk}/deactivate/"):
        assert api.post(path).status_code == 404
    assert api.patch(f"/api/v1/team/{admin_b.pk}/", {"role": "AGENT"},
                     format="json").status_code == 404
    page = signed_in(admin_a)
    assert page.post(f"/team/users/{admin_b.pk}/", {"do": "deactivate"}).status_code == 404
    assert page.post(f"/team/invitations/{invitation_b['id']}/",
                     {"do": "revoke"}).status_code == 404
    usernames = {row["username"] for row in api.get("/api/v1/team/").json()["results"]}
    assert "boss-b" not in usernames and "boss" in usernames
    events = api.get("/api/v1/audit-events/").json()["results"]
    assert events and all(event["actor_name"] != "boss-b" for event in events)
    with tenant_context(org_b):
        assert User.objects.get(pk=admin_b.pk).is_active
        assert Invitation.objects.get(pk=invitation_b["id"]).revoked_at is None
