"""Organizations (the tenants), roles and the users who sign in."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any, ClassVar

from django.apps import apps
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models

from crm.fields import PgEnumField, UTCDateTimeField
from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantManager, TenantModel


class Organization(models.Model):
    """A tenant: a business using the CRM. Shared table (it is the tenant itself)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=255, db_index=True)
    code = models.CharField(max_length=50, unique=True, null=True, blank=True)
    slug = models.CharField(max_length=255, unique=True, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)
    # New in the port (crm.0013), set by the ORG_ADMIN: agents see every conversation of the
    # organization, or only those assigned to them.
    agents_see_all = models.BooleanField(
        default=True, help_text="Agents see every conversation; off: only those assigned to them."
    )
    # New in the port (crm.0022), read by automation (crm.automation): "hours" and "days" are the
    # organization's own, in its time zone.
    time_zone = models.CharField(
        max_length=64, default="Asia/Kolkata", help_text="IANA name, such as Asia/Kolkata."
    )
    business_hours = models.JSONField(
        default=dict, blank=True,
        help_text='Per weekday "mon".."sun" a list of ["HH:MM", "HH:MM"] intervals, [] when '
        "closed; {} (not set): always open.",
    )
    # New in the port (crm.0031), read by contact imports: numbers written without a country
    # code are of this country (ISO 3166 alpha-2).
    default_country = models.CharField(
        max_length=2, default="IN", help_text="ISO 3166 alpha-2 code, such as IN or AE.")
    agent_reply_grace_minutes = models.PositiveIntegerField(
        default=30, help_text="A conversation an agent answered within these minutes is left to "
        "the agent: automation does not answer it.",
    )
    # New in the port (crm.0034): an organization made by self-serve sign-up sends nothing until
    # its ORG_ADMIN confirmed their e-mail; organizations made otherwise count as confirmed.
    email_confirmed = models.BooleanField(
        default=True, help_text="Its ORG_ADMIN confirmed their e-mail address: it may send."
    )
    # New in the port (crm.0038): the logo's name in the default storage, under
    # organization-logos/<id>/ with a name the server chose (crm.organizations.logos). Set only
    # by crm.organizations.services, never typed into a form.
    logo = models.CharField(max_length=255, null=True, blank=True, editable=False)

    class Meta:
        db_table = "organizations"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def logo_url(self) -> str | None:
        """Where signed-in members of the organization fetch its logo; None without one."""
        if not self.logo:
            return None
        from django.urls import reverse

        return reverse("organization:logo", args=[self.logo.rsplit("/", 1)[-1]])

    def clean(self) -> None:
        """Refuse an unknown time zone or country, or malformed business hours (admin form)."""
        from django.core.exceptions import ValidationError

        from crm.automation.hours import InvalidHours, check_business_hours, check_time_zone
        from crm.imports.errors import InvalidCountry
        from crm.imports.phones import check_country

        errors = {}
        try:
            self.time_zone = check_time_zone(self.time_zone)
        except InvalidHours as error:
            errors["time_zone"] = str(error)
        try:
            self.business_hours = check_business_hours(self.business_hours)
        except InvalidHours as error:
            errors["business_hours"] = str(error)
        try:
            self.default_country = check_country(self.default_country)
        except InvalidCountry as error:
            errors["default_country"] = str(error)
        if errors:
            raise ValidationError(errors)


class Role(models.Model):
    """A system-wide role (SUPER_ADMIN, ORG_ADMIN, AGENT). Shared table."""

    SUPER_ADMIN = "SUPER_ADMIN"
    ORG_ADMIN = "ORG_ADMIN"
    AGENT = "AGENT"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=50, unique=True)
    display_name = models.CharField(max_length=100)
    description = models.TextField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    class Meta:
        db_table = "roles"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name


class UserManager(TenantManager):
    """Scoped like every tenant manager, plus Django's user-creation helper."""

    def create_user(self, username: str, password: str | None = None, **fields: Any) -> User:
        """Create a user in the active organization with a hashed password."""
        user = self.model(username=username, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser, TenantModel):
    """A person who signs in: organization staff, or platform staff with no organization."""

    class LegacyRole(models.TextChoices):
        SUPER_ADMIN = "SUPER_ADMIN"
        ADMIN = "ADMIN"
        AGENT = "AGENT"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    username = models.CharField(max_length=100)
    password = models.CharField(max_length=255)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    phone_number = models.CharField(max_length=20)
    email = models.CharField(max_length=100)
    # The legacy enum column; `role` (the roles table) is what permissions are decided by.
    legacy_role = PgEnumField(
        enum_name="user_role_enum", choices=LegacyRole.choices, db_column="role", null=True,
        blank=True,
    )
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)
    # New in the port (crm.0034): a deactivated user cannot sign in, and their sessions and
    # tokens stop working (crm.auth), while their history keeps naming them.
    is_active = models.BooleanField(default=True)
    # wb-crm's users table has no last_login column; Django skips the login signal without it.
    last_login = None

    objects = UserManager()

    platform_rows: ClassVar[bool] = True
    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["email", "first_name", "last_name", "phone_number"]

    class Meta:
        db_table = "users"
        base_manager_name = "objects"
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(
                fields=["username", "organization"], name="ix_users_username_organization"
            ),
            models.UniqueConstraint(
                fields=["email", "organization"], name="ix_users_email_organization"
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def role_name(self) -> str | None:
        """The user's role name from the roles table, falling back to the legacy enum."""
        if self.role_id is not None:
            return self.role.name
        return {"ADMIN": Role.ORG_ADMIN}.get(self.legacy_role or "", self.legacy_role)

    @property
    def is_super_admin(self) -> bool:
        """Platform staff: no organization, SUPER_ADMIN role."""
        return self.role_name == Role.SUPER_ADMIN and self.organization_id is None

    @property
    def is_staff(self) -> bool:
        """Every role signs in to the admin; what it may do there is `has_perm`'s business."""
        return self.role_name in (Role.SUPER_ADMIN, Role.ORG_ADMIN, Role.AGENT)

    @property
    def is_superuser(self) -> bool:
        """Django's notion of a superuser: platform staff."""
        return self.is_super_admin

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Decide Django's model permissions (`crm.change_customer`) by role (crm.roles)."""
        from crm.roles import can_read, can_write

        app_label, _, codename = perm.partition(".")
        action, _, model_name = codename.partition("_")
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            return False
        if action == "view":
            return can_read(self, model)
        return action in ("add", "change", "delete") and can_write(self, model)

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        """Every permission of `perm_list`."""
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        """Staff see the apps whose models they may view."""
        return self.is_staff and any(
            self.has_perm(f"{app_label}.view_{model._meta.model_name}")
            for model in apps.get_app_config(app_label).get_models()
        )


class ApiToken(TenantModel):
    """A bearer token for the REST API; only its SHA-256 is stored, the token is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("user"),)
    platform_rows: ClassVar[bool] = True

    class Meta:
        db_table = "api_tokens"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token of {self.user_id}"

    @staticmethod
    def hash(key: str) -> str:
        """The stored form of a token."""
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User) -> tuple[ApiToken, str]:
        """Create a token for `user`; return it with the plain key, which is never stored."""
        key = secrets.token_urlsafe(32)
        return cls.objects.create(user=user, key_hash=cls.hash(key)), key
