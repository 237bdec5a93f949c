"""Signing in to the admin: existing passwords, the organization code, inactive organizations."""
from __future__ import annotations

from django.test import Client

from crm.models import Customer, Organization, Role
from tenancy.context import unscoped
from tests.test_admin_support import PASSWORD, admin_url, make_staff, signed_in

LOGIN = "/admin/login/"


def _sign_in(username: str, password: str = PASSWORD, organization: str = "") -> tuple:
    client = Client()
    answer = client.post(LOGIN, {"username": username, "password": password,
                                 "organization": organization, "next": "/admin/"})
    return client, answer


def _errors(answer) -> list[str]:
    return [str(e) for e in answer.context["form"].non_field_errors()]


def test_the_login_page_asks_for_an_optional_organization_code(db) -> None:
    page = Client().get(LOGIN)
    assert page.status_code == 200
    form = page.context["form"]
    assert "organization" in form.fields and not form.fields["organization"].required
    assert 'name="organization"' in page.content.decode()
    assert "Organization code" in page.content.decode()


def test_each_role_signs_in_with_its_existing_password(org_a) -> None:
    for role, org in ((Role.ORG_ADMIN, org_a), (Role.AGENT, org_a), (Role.SUPER_ADMIN, None)):
        user = make_staff(org, role)
        client, answer = _sign_in(user.username)
        assert answer.status_code == 302 and answer["Location"] == "/admin/"
        assert client.get("/admin/").status_code == 200


def test_a_username_in_two_organizations_needs_the_code(org_a, org_b) -> None:
    make_staff(org_a, Role.AGENT, "ravi")
    make_staff(org_b, Role.AGENT, "ravi")
    _, answer = _sign_in("ravi")
    assert answer.status_code == 200
    assert "organization code" in _errors(answer)[0]
    client, answer = _sign_in("ravi", organization="org-b")
    assert answer.status_code == 302
    assert client.get(admin_url(Customer)).status_code == 200
    _, answer = _sign_in("ravi", organization="org-c")
    assert answer.status_code == 200


def test_an_inactive_organization_is_said_plainly_to_whoever_knows_the_password(org_a) -> None:
    make_staff(org_a, Role.ORG_ADMIN, "asha")
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(is_active=False)
    _, answer = _sign_in("asha")
    assert answer.status_code == 200
    assert _errors(answer) == ["Your organization is inactive, so its staff cannot sign in. "
                               "Please contact the platform team."]
    _, wrong = _sign_in("asha", password="not-the-password")
    assert "inactive" not in _errors(wrong)[0] and "correct" in _errors(wrong)[0]
    _, nobody = _sign_in("nobody-at-all")
    assert _errors(nobody) == _errors(wrong)


def test_a_session_of_a_deactivated_organization_ends(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.AGENT))
    assert client.get("/admin/").status_code == 200
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(is_active=False)
    answer = client.get(admin_url(Customer))
    assert answer.status_code == 302 and answer["Location"].startswith(LOGIN)


def test_a_user_without_a_role_cannot_use_the_admin(org_a) -> None:
    user = make_staff(org_a, Role.AGENT)
    with unscoped():
        type(user).objects.filter(pk=user.pk).update(role=None, legacy_role=None)
    _, answer = _sign_in(user.username)
    assert answer.status_code == 200 and "correct" in _errors(answer)[0]


def test_platform_staff_change_their_own_password(db) -> None:
    root = make_staff(None, Role.SUPER_ADMIN)
    client = signed_in(root)  # no organization chosen: their own account needs none
    answer = client.post("/admin/password_change/", {
        "old_password": PASSWORD, "new_password1": "an0ther-Long-pw",
        "new_password2": "an0ther-Long-pw"})
    assert answer.status_code == 302
    _, again = _sign_in(root.username, "an0ther-Long-pw")
    assert again.status_code == 302
