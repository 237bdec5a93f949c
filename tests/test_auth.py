"""Sign-in before any organization is active: legacy hashes, per-organization usernames."""
from __future__ import annotations

import bcrypt
import pytest
from django.contrib.auth import authenticate, get_user
from django.test import RequestFactory

from crm.models import Organization, User
from tenancy.context import get_state, tenant_context, unscoped


def _legacy_user(org: Organization | None, username: str, password: str) -> User:
    """A user as wb-crm stored it (passlib bcrypt), after migration crm.0004's prefix."""
    legacy_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    scope = tenant_context(org) if org else unscoped()
    with scope:
        return User.objects.create(
            username=username, password=f"bcrypt${legacy_hash}", first_name="F", last_name="L",
            phone_number="1", email=f"{username}@example.com",
        )


def test_a_legacy_bcrypt_password_signs_in_and_is_upgraded(org_a: Organization) -> None:
    user = _legacy_user(org_a, "asha", "old-secret")
    assert authenticate(username="asha", password="old-secret") == user
    assert get_state().organization_id is None
    with tenant_context(org_a):
        assert User.objects.get(pk=user.pk).password.startswith("md5$")  # the preferred hasher
    assert authenticate(username="asha", password="old-secret") == user


def test_a_wrong_password_is_refused(org_a: Organization) -> None:
    _legacy_user(org_a, "asha", "old-secret")
    assert authenticate(username="asha", password="guess") is None


def test_a_username_in_two_organizations_is_told_apart_by_password_or_code(
    org_a: Organization, org_b: Organization
) -> None:
    in_a = _legacy_user(org_a, "ravi", "pw-a")
    in_b = _legacy_user(org_b, "ravi", "pw-b")
    assert authenticate(username="ravi", password="pw-a") == in_a
    assert authenticate(username="ravi", password="pw-b") == in_b
    _legacy_user(org_a, "sam", "same-pw")
    _legacy_user(org_b, "sam", "same-pw")
    assert authenticate(username="sam", password="same-pw") is None  # then only the code tells
    assert authenticate(username="ravi", password="pw-a", organization="org-a") == in_a
    assert authenticate(username="ravi", password="pw-b", organization="org-b") == in_b
    assert authenticate(username="ravi", password="pw-a", organization="org-b") is None


def test_staff_of_an_inactive_organization_cannot_sign_in(org_a: Organization) -> None:
    user = _legacy_user(org_a, "asha", "old-secret")
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(is_active=False)
    assert authenticate(username="asha", password="old-secret") is None
    request = RequestFactory().get("/")
    request.session = {"_auth_user_id": str(user.pk),
                       "_auth_user_backend": "crm.auth.OrganizationUserBackend",
                       "_auth_user_hash": user.get_session_auth_hash()}
    assert not get_user(request).is_authenticated


def test_platform_staff_sign_in_without_an_organization(db: None) -> None:
    user = _legacy_user(None, "root", "platform-pw")
    assert authenticate(username="root", password="platform-pw") == user


@pytest.mark.parametrize("org_active", [False, True])
def test_the_session_user_is_found_with_or_without_an_organization(
    client, org_a: Organization, org_active: bool
) -> None:
    user = _legacy_user(org_a, "asha", "old-secret")
    client.force_login(user)
    request = RequestFactory().get("/")
    request.session = client.session
    if org_active:
        with tenant_context(org_a):
            assert get_user(request) == user
    else:
        assert get_user(request) == user
