"""Writes on an organization's team: invitations, joining, roles, deactivation (ORG_ADMIN's).

Every function runs in the active organization, so an ORG_ADMIN never reaches another's users;
no one is ever raised above ORG_ADMIN here (SUPER_ADMIN is platform staff, made in the admin).
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm import audit
from crm.accounts import links, mail
from crm.accounts.errors import AccountError, BadLink, Conflict, NotAllowed
from crm.accounts.services import check_password, role
from crm.auth import reserved_username
from crm.models import ApiToken, Invitation, Organization, Role, User
from tenancy.context import get_current_organization_id, tenant_context

INVITE = "invitation"
TEAM_ROLES = (Role.ORG_ADMIN, Role.AGENT)


def team_role(name: str) -> Role:
    """ORG_ADMIN or AGENT; anything else is refused naming the field."""
    if name not in TEAM_ROLES:
        raise AccountError(f"role must be one of {', '.join(TEAM_ROLES)}.", field="role")
    return role(name)


def _by(actor: Any) -> User | None:
    """`actor` when they are of the active organization (platform staff are not keyed)."""
    return actor if getattr(actor, "organization_id", None) == get_current_organization_id() \
        else None


def invite(email: str, role_name: str, *, by: Any) -> Invitation:
    """Invite `email` to the active organization as `role_name`; e-mails the link."""
    email = email.strip()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict("A user of your organization already has this e-mail address.",
                       field="email")
    with transaction.atomic():
        invitation = Invitation.objects.create(
            email=email, role=team_role(role_name), invited_by=_by(by),
            nonce=secrets.token_hex(16), expires_at=_expiry())
        audit.record(audit.INVITED, actor=by, email=email, role=role_name)
        _send(invitation)
    return invitation


def _expiry() -> Any:
    return timezone.now() + timedelta(days=settings.INVITATION_DAYS)


def _send(invitation: Invitation) -> None:
    token = links.make(INVITE, {"o": str(invitation.organization_id), "i": str(invitation.pk),
                                "n": invitation.nonce})
    link = links.url(f"/invitations/{token}/")
    organization = Organization.objects.get(pk=invitation.organization_id).name
    email, role_name = invitation.email, invitation.role.name
    transaction.on_commit(lambda: mail.invitation(email, organization, role_name, link))


def resend(invitation: Invitation) -> Invitation:
    """A new link (the old one stops working) and a new expiry, for a pending invitation."""
    if invitation.accepted_at or invitation.revoked_at:
        raise Conflict(f"This invitation is {invitation.state}: invite the address again.")
    with transaction.atomic():
        invitation.nonce, invitation.expires_at = secrets.token_hex(16), _expiry()
        invitation.save(update_fields=["nonce", "expires_at"])
        _send(invitation)
    return invitation


def revoke(invitation: Invitation, *, by: Any) -> Invitation:
    """End a pending invitation: its link stops working."""
    if invitation.accepted_at:
        raise Conflict("This invitation was accepted already: deactivate the user instead.")
    with transaction.atomic():
        invitation.revoked_at = invitation.revoked_at or timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(audit.INVITATION_REVOKED, actor=by, email=invitation.email)
    return invitation


def pending(token: str) -> Invitation:
    """The pending invitation a link is for (inside tenant_context of its organization)."""
    payload = links.read(INVITE, token, settings.INVITATION_DAYS * 86400, "invitation")
    invitation = Invitation.objects.select_related("role").filter(
        pk=payload.get("i"), nonce=payload.get("n")).first()
    if invitation is None or invitation.state != "pending":
        raise BadLink("invitation")
    return invitation


def organization_of(token: str) -> str:
    """The organization id an invitation link names (checked signature, not yet the row)."""
    return str(links.read(INVITE, token, settings.INVITATION_DAYS * 86400, "invitation")["o"])


def accept(token: str, *, username: str, password: str, name: str = "") -> User:
    """Join: the invited address becomes a user with this username and password, once."""
    with tenant_context(organization_of(token)), transaction.atomic():
        invitation = pending(token)
        first, _, last = name.strip().partition(" ")
        user = User(username=username, email=invitation.email, first_name=first[:100],
                    last_name=last[:100], phone_number="", role=invitation.role)
        reserved = reserved_username(username, invitation.organization_id)
        if reserved:
            raise AccountError(reserved, field="username")
        check_password(password, user)
        if User.objects.filter(username=username).exists():
            raise Conflict("Your organization already has a user of this name: choose another.",
                           field="username")
        user.set_password(password)
        user.created_at = user.updated_at = timezone.now()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            raise Conflict("This username or e-mail address is taken in your organization.",
                           field="username") from None
        # Conditional on still pending: of two acceptances racing, one wins.
        if not Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
                accepted_at=timezone.now(), user=user):
            raise BadLink("invitation")
        audit.record(audit.JOINED, actor=user, role=invitation.role.name)
    return user


def change_role(user: User, role_name: str, *, by: Any) -> User:
    """Make a user of the active organization ORG_ADMIN or AGENT (never more)."""
    new = team_role(role_name)
    if user.role_name == role_name:
        return user
    with transaction.atomic():
        if user.role_name == Role.ORG_ADMIN:
            _keep_an_admin(user)
        old = user.role_name
        user.role, user.updated_at = new, timezone.now()
        user.save(update_fields=["role", "updated_at"])
        audit.record(audit.ROLE_CHANGED, actor=by, user=user.username, old=old, new=role_name)
    return user


def _keep_an_admin(leaving: User) -> None:
    """Refuse to leave the organization with no active ORG_ADMIN."""
    others = User.objects.select_for_update().filter(
        role__name=Role.ORG_ADMIN, is_active=True).exclude(pk=leaving.pk)
    if not others.exists():
        raise Conflict("This is your organization's last active ORG_ADMIN: make someone else "
                       "ORG_ADMIN first.")


def deactivate(user: User, *, by: Any) -> User:
    """A user who leaves: no more sign-in, their sessions and API tokens end, history stays."""
    if user.pk == getattr(by, "pk", None):
        raise NotAllowed("You cannot deactivate yourself: ask another ORG_ADMIN.")
    with transaction.atomic():
        if user.role_name == Role.ORG_ADMIN:
            _keep_an_admin(user)
        user.is_active, user.updated_at = False, timezone.now()
        user.save(update_fields=["is_active", "updated_at"])
        # Sessions end with it: the backend refuses an inactive user on every request.
        ApiToken.objects.filter(user=user).delete()
        audit.record(audit.DEACTIVATED, actor=by, user=user.username)
    return user


def reactivate(user: User, *, by: Any) -> User:
    """Let a deactivated user sign in again (their old tokens stay gone)."""
    with transaction.atomic():
        user.is_active, user.updated_at = True, timezone.now()
        user.save(update_fields=["is_active", "updated_at"])
        audit.record(audit.REACTIVATED, actor=by, user=user.username)
    return user
