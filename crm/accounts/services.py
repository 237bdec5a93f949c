"""Writes of the account lifecycle: sign-up, e-mail confirmation, password reset, suspension.

Links carry the organization's id, so each is read back inside its own organization; e-mails
leave after the transaction commits, never for rows that were rolled back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from crm import audit
from crm.accounts import links, mail
from crm.accounts.errors import AccountError, BadLink, SignupClosed
from crm.auth import reserved_username
from crm.models import ApiToken, Organization, Role, User
from tenancy.context import tenant_context

CONFIRM = "confirm-email"
RESET = "password-reset"


@dataclass(frozen=True)
class SignUp:
    """What a sign-up asks for."""

    organization_name: str
    name: str
    email: str
    username: str
    password: str


def role(name: str) -> Role:
    """The system role `name` (roles are platform data, made on first use)."""
    return Role.objects.get_or_create(name=name, defaults={"display_name": name.title()})[0]


def unique_code(name: str) -> str:
    """An organization code derived from `name`, with a number added when it is taken."""
    base = slugify(name)[:40].strip("-") or "organization"
    taken = set(Organization.objects.filter(code__startswith=base).values_list("code", flat=True))
    code, number = base, 1
    while code in taken:
        number += 1
        code = f"{base}-{number}"
    return code


def check_password(password: str, user: User, field: str = "password") -> None:
    """Django's password validators, as an AccountError naming `field`."""
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise AccountError(" ".join(error.messages), field=field) from None


def sign_up(form: SignUp) -> tuple[Organization, User]:
    """A new organization and its ORG_ADMIN; it sends nothing until the e-mail is confirmed."""
    if not settings.SIGNUP_OPEN:
        raise SignupClosed
    first, _, last = form.name.strip().partition(" ")
    admin = User(username=form.username, email=form.email, first_name=first[:100],
                 last_name=last[:100], phone_number="")
    check_password(form.password, admin)
    reserved = reserved_username(form.username, organization_id="new")
    if reserved:
        raise AccountError(reserved, field="username")
    now = timezone.now()
    with transaction.atomic():
        code = unique_code(form.organization_name)
        organization = Organization.objects.create(
            name=form.organization_name.strip(), code=code, slug=code, email_confirmed=False,
            created_at=now, updated_at=now)
        with tenant_context(organization):
            admin.role = role(Role.ORG_ADMIN)
            admin.created_at = admin.updated_at = now
            admin.set_password(form.password)
            admin.save()
            audit.record(audit.SIGNED_UP, actor=admin, code=code)
            send_confirmation(admin)
    return organization, admin


def send_confirmation(admin: User) -> None:
    """E-mail `admin` (of the active organization) the link that confirms their address."""
    token = links.make(CONFIRM, {"o": str(admin.organization_id), "u": str(admin.pk),
                                 "e": admin.email})
    link = links.url(f"/signup/confirm/{token}/")
    name, email = admin.organization.name, admin.email
    transaction.on_commit(lambda: mail.confirm_email(email, name, link))


def confirm_email(token: str) -> Organization:
    """Confirm the sign-up's address: its organization may send from now on."""
    payload = links.read(CONFIRM, token, settings.EMAIL_CONFIRM_DAYS * 86400, "confirmation")
    with tenant_context(payload["o"]), transaction.atomic():
        admin = User.objects.filter(pk=payload["u"], email=payload["e"], is_active=True).first()
        if admin is None:
            raise BadLink("confirmation")
        organization = Organization.objects.select_for_update().get(pk=payload["o"])
        if not organization.email_confirmed:
            organization.email_confirmed = True
            organization.save(update_fields=["email_confirmed"])
            audit.record(audit.EMAIL_CONFIRMED, actor=admin, email=admin.email)
    return organization


def request_password_reset(organization_code: str, email: str) -> None:
    """E-mail a reset link to that organization's active user of this address, if there is one.

    The caller answers the same whatever happens here, so nobody learns which addresses exist.
    """
    organization = Organization.objects.filter(code=organization_code, is_active=True).first()
    if organization is None:
        return
    with tenant_context(organization):
        user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
        if user is None:
            return
        token = links.make(RESET, {"o": str(organization.pk), "u": str(user.pk),
                                   "t": default_token_generator.make_token(user)})
        mail.password_reset(user.email, organization.name, user.username,
                            links.url(f"/password-reset/{token}/"))


def reset_password(token: str, password: str) -> User:
    """Set the password a reset link was sent for; the link then stops working."""
    payload = links.read(RESET, token, settings.PASSWORD_RESET_HOURS * 3600, "password reset")
    with tenant_context(payload["o"]), transaction.atomic():
        user = User.objects.filter(pk=payload["u"], is_active=True).first()
        # The token hashes the current password: once changed, the same link is refused.
        if user is None or not default_token_generator.check_token(user, payload.get("t", "")):
            raise BadLink("password reset")
        check_password(password, user)
        user.set_password(password)
        user.updated_at = timezone.now()
        user.save(update_fields=["password", "updated_at"])
        ApiToken.objects.filter(user=user).delete()  # a reset ends what a thief may hold
        audit.record(audit.PASSWORD_RESET, actor=user)
    return user


def set_suspended(organization: Organization, suspended: bool, *, by: Any) -> Organization:
    """Suspend (its staff cannot sign in, its webhooks are only stored, its campaigns stop) or
    reactivate an organization: platform staff only (the caller checks)."""
    from crm.campaigns.services import stop_running_campaigns

    with transaction.atomic():
        Organization.objects.filter(pk=organization.pk).update(
            is_active=not suspended, updated_at=timezone.now())
        with tenant_context(organization):
            if suspended:
                stop_running_campaigns("the organization was suspended")
            audit.record(audit.SUSPENDED if suspended else audit.RESUMED, actor=by)
    organization.refresh_from_db()
    return organization
