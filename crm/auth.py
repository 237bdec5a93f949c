"""Sign-in for organization staff and platform staff, before any organization is active.

Usernames are unique per organization, so one name may be in several. No organization's choice
of names may lock anyone else out: platform staff's usernames are reserved (no organization user
may take one, in any case), a sign-in without an organization code is tried against every user
of that name (the password decides), and the code always picks exactly one.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.hashers import check_password
from django.http import HttpRequest

from crm.models import User
from tenancy.context import tenant_context, unscoped

# Without an organization code, at most this many users of one name are tried (a password hash
# each); a name in more organizations needs the code.
MAX_SAME_NAME = 5


def login_candidates(username: str, organization_code: str | None) -> list[User]:
    """Who a sign-in may be: that organization's user of this name when a code is given; else
    platform staff of this name (their names are reserved), else every organization's."""
    # Sign-in precedes any organization: an exact-username lookup, used only by this module.
    with unscoped():
        users = User.objects.select_related("organization", "role").filter(username=username)
        if organization_code:
            return list(users.filter(organization__code=organization_code)[:1])
        platform = list(users.filter(organization__isnull=True)[:2])
        return platform or list(users.order_by("pk")[: MAX_SAME_NAME + 1])


def matching_users(username: str, password: str, organization_code: str | None) -> list[User]:
    """The candidates whose password this is: one signs in; none or several do not."""
    candidates = login_candidates(username, organization_code)
    if not candidates or len(candidates) > MAX_SAME_NAME:
        User().set_password(password)  # same work as a real check: no timing oracle
        return []
    return [user for user in candidates if _checks(user, password)]


def _checks(user: User, password: str) -> bool:
    """Whether `password` is `user`'s; a right one kept in an old hash marks the user stale."""
    def stale(_: str) -> None:
        user.stale_hash = True

    return check_password(password, user.password, setter=stale)


def reserved_username(username: str, organization_id: Any, user_id: Any = None) -> str | None:
    """Why user `user_id` (None: a new one) of `organization_id` may not be named `username`.

    Compared case-insensitively, so no one passes for platform staff. Says only that a name is
    reserved for the platform, never whether another organization uses it.
    """
    # Platform staff are visible to no organization: this check must see them (and, for a
    # platform account, every organization's users, which platform staff see anyway).
    with unscoped():
        clashes = User.objects.filter(username__iexact=username).exclude(pk=user_id)
        if organization_id is not None:
            if clashes.filter(organization__isnull=True).exists():
                return "This username is reserved for the platform team: choose another."
            return None
        if clashes.exists():
            return ("Platform staff need a username no organization uses (in any case): "
                    "choose another.")
    return None


def _session_user(user_id: Any) -> User | None:
    """The user a session points at, by primary key."""
    # The session is what tells us the organization, so the user is read before it is known.
    with unscoped():
        return User.objects.select_related("organization", "role").filter(pk=user_id).first()


class OrganizationUserBackend(BaseBackend):
    """Username and password; the organization code picks one when a username is in several."""

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
        matches = matching_users(username, password, organization)
        if len(matches) != 1 or not self.user_can_authenticate(matches[0]):
            return None
        user = matches[0]
        if getattr(user, "stale_hash", False):
            # A legacy hash is upgraded on success, saving the user in its own organization.
            scope = tenant_context(user.organization_id) if user.organization_id else unscoped()
            with scope:
                user.set_password(password)
                user.save(update_fields=["password"])
        return user

    def get_user(self, user_id: Any) -> User | None:
        user = _session_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def user_can_authenticate(self, user: User) -> bool:
        """A deactivated user, and staff of a suspended organization, cannot sign in."""
        if not user.is_active:
            return False
        return user.organization_id is None or user.organization.is_active
