"""An ORG_ADMIN of A, attacking: naming users like platform staff or like B's users never locks
anyone out of the API token endpoint or the admin's sign-in, and reveals nothing about B."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.admin.scoping import ALL
from crm.models import Organization, Role, User
from tenancy.context import tenant_context, unscoped
from tests.test_admin_support import PASSWORD, admin_url, make_staff, signed_in
from tests.test_api import client_for

NEW_USER = {"password": "long-enough-pw", "first_name": "N", "last_name": "B",
            "phone_number": "1", "email": "n@example.com"}
OTHER = "another-Pass-987"  # A's users' password: A's admin does not know B's


@pytest.fixture
def root() -> User:
    return make_staff(None, Role.SUPER_ADMIN, "root")


@pytest.fixture
def ravi_of_b(org_b: Organization) -> User:
    return make_staff(org_b, Role.AGENT, "ravi")


def _token(username: str, password: str = PASSWORD, **extra: str) -> Any:
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password,
                                                    **extra}, format="json")


def _admin_sign_in(username: str, password: str = PASSWORD, organization: str = "") -> Any:
    return Client().post("/admin/login/", {"username": username, "password": password,
                                           "organization": organization, "next": "/admin/"})


def _still_sign_in(user: User) -> None:
    """`user` gets a token and signs in to the admin, without an organization code."""
    token = _token(user.username)
    assert token.status_code == 201 and token.json()["user"] == str(user.pk)
    answer = _admin_sign_in(user.username)
    assert answer.status_code == 302 and answer["Location"] == "/admin/"


def _role(name: str) -> Role:
    with unscoped():  # roles are platform data
        return Role.objects.get_or_create(name=name, defaults={"display_name": name})[0]


def _add_in_admin(client: Client, username: str) -> Any:
    return client.post(admin_url(User, "add"), {
        "username": username, "password1": OTHER, "password2": OTHER, "first_name": "N",
        "last_name": "B", "email": f"{username}@example.com", "phone_number": "1",
        "role": str(_role(Role.AGENT).pk),
    })


@pytest.mark.parametrize("name", ["root", "ROOT", "Root"])
def test_platform_usernames_are_reserved_for_organizations(
    name: str, root: User, org_a: Organization
) -> None:
    admin_a = make_staff(org_a, Role.ORG_ADMIN)
    api = client_for(admin_a)
    created = api.post("/api/v1/users/", {**NEW_USER, "username": name,
                                          "role": str(_role(Role.AGENT).pk)}, format="json")
    assert created.status_code == 400
    assert created.json() == {"username": ["This username is reserved for the platform team: "
                                           "choose another."]}
    renamed = api.patch(f"/api/v1/users/{admin_a.pk}/", {"username": name}, format="json")
    assert renamed.status_code == 400 and "username" in renamed.json()
    page = _add_in_admin(signed_in(admin_a), name)
    assert page.status_code == 200 and "reserved" in str(page.context["adminform"].form.errors)
    with unscoped():
        assert not User.objects.filter(organization=org_a, username__iexact="root").exists()
    _still_sign_in(root)


def test_platform_staff_sign_in_past_a_clash_made_before_the_reservation(
    root: User, org_a: Organization
) -> None:
    older = make_staff(org_a, Role.ORG_ADMIN, "root")  # a legacy row: same name, same password
    _still_sign_in(root)
    token = _token("root", organization="org-a")
    assert token.status_code == 201 and token.json()["user"] == str(older.pk)


@pytest.mark.parametrize("name", ["ravi", "Ravi"])
def test_a_name_used_in_b_is_taken_in_a_without_locking_bs_user_out(
    name: str, ravi_of_b: User, org_a: Organization
) -> None:
    admin_a = make_staff(org_a, Role.ORG_ADMIN)
    created = client_for(admin_a).post("/api/v1/users/", {
        **NEW_USER, "username": name, "role": str(_role(Role.AGENT).pk)}, format="json")
    assert created.status_code == 201  # as for any free name: nothing is said about B
    _still_sign_in(ravi_of_b)
    mine = _token(name, NEW_USER["password"])
    assert mine.status_code == 201 and mine.json()["user"] == created.json()["id"]


def test_the_admin_add_form_takes_bs_name_too(ravi_of_b: User, org_a: Organization) -> None:
    admin_a = make_staff(org_a, Role.ORG_ADMIN)
    assert _add_in_admin(signed_in(admin_a), "ravi").status_code == 302
    with tenant_context(org_a):
        assert User.objects.filter(username="ravi").exists()
    _still_sign_in(ravi_of_b)
    answer = _admin_sign_in("ravi", OTHER)
    assert answer.status_code == 302


def test_platform_staff_need_a_name_no_organization_uses(org_a: Organization) -> None:
    make_staff(org_a, Role.AGENT, "asha")
    platform = signed_in(make_staff(None, Role.SUPER_ADMIN), ALL)
    page = platform.post(admin_url(User, "add"), {
        "username": "ASHA", "password1": PASSWORD, "password2": PASSWORD, "first_name": "N",
        "last_name": "B", "email": "asha@example.com", "phone_number": "1",
        "role": str(_role(Role.SUPER_ADMIN).pk), "organization": "",
    })
    assert page.status_code == 200 and "username" in page.context["adminform"].form.errors
