"""Sign-in for organization staff and platform staff, before any organization is active."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from crm.models import User
from tenancy.context import tenant_context, unscoped


def login_candidates(username: str, organization_code: str | None) -> list[User]:
    """Users with this exact username (in that organization, when a code is given)."""
    # Sign-in precedes any organization: an exact-username lookup, used only by this backend.
    with unscoped():
        users = User.objects.select_related("organization", "role").filter(username=username)
        if organization_code:
            users = users.filter(organization__code=organization_code)
        return list(users[:2])


def _session_user(user_id: Any) -> User | None:
    """The user a session points at, by primary key."""
    # The session is what tells us the organization, so the user is read before it is known.
    with unscoped():
        return User.objects.select_related("organization", "role").filter(pk=user_id).first()


class OrganizationUserBackend(BaseBackend):
    """Username and password; the organization code decides when a username is in several."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        organization: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not username or password is None:
            return None
        candidates = login_candidates(username, organization)
        if len(candidates) != 1:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        user = candidates[0]
        # A legacy hash is upgraded on success, which saves the user in its own organization.
        scope = tenant_context(user.organization_id) if user.organization_id else unscoped()
        with scope:
            valid = user.check_password(password)
        return user if valid and self.user_can_authenticate(user) else None

    def get_user(self, user_id: Any) -> User | None:
        user = _session_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def user_can_authenticate(self, user: User) -> bool:
        """Staff of an inactive organization cannot sign in."""
        return user.organization_id is None or user.organization.is_active
