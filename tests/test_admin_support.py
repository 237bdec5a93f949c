"""Helpers for the admin tests: staff of each kind, signed-in clients, and a two-organization world
whose organization-B rows carry markers that must never show up in organization A's pages.

(No tests here; the admin test modules import from it.)
"""
from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.contrib.admin.utils import quote
from django.db import models
from django.test import Client

from crm.admin import site
from crm.admin.base import secret_fields
from crm.admin.scoping import ALL, SESSION_KEY
from crm.models import Organization, Role, User
from crm.models.messaging import META_ID
from tenancy.context import tenant_context, unscoped
from tenancy.guards import is_tenant_model
from tests.factories import (
    ALL_FACTORIES,
    TemplateFactory,
    UserFactory,
    ZohoMappingFactory,
    model_of,
)

PASSWORD = "a-Good-pass-4321"
FACTORIES = {model_of(f): f for f in ALL_FACTORIES}
# Every text column of organization B's rows starts with it ("~" is in no random token the
# pages carry: CSRF tokens and keys are letters, digits, "-" and "_").
MARKER = "bmk~"
B_YEAR = 1999  # every date of organization B's rows is 2 January of this year
# That date as the admin shows it (a date, an input, a date-hierarchy link); not a price.
B_YEAR_RE = re.compile(rf"{B_YEAR}-01-02|\b[A-Z][a-z]{{2,3}}\.? 2, {B_YEAR}\b|__year={B_YEAR}")
KINDS = ("org_admin", "agent", "super_in_a")


def make_staff(org: Organization | None, role: str, username: str | None = None) -> User:
    """A user of `org` (platform staff when None) with `role` and the password PASSWORD."""
    traits = {Role.ORG_ADMIN: {"org_admin": True}, Role.SUPER_ADMIN: {"super_admin": True}}
    kwargs: dict[str, Any] = {**traits.get(role, {}), "password": PASSWORD}
    if username:
        kwargs["username"] = username
    with tenant_context(org) if org is not None else unscoped():
        return UserFactory(**kwargs)


def signed_in(user: User, organization: Any = None) -> Client:
    """A client signed in as `user`; for platform staff, with `organization` (or ALL) chosen."""
    client = Client()
    client.force_login(user)
    if organization is not None:
        session = client.session
        session[SESSION_KEY] = ALL if organization == ALL else str(organization.pk)
        session.save()
    return client


def staff_client(kind: str, org_a: Organization) -> tuple[Client, User]:
    """A client for one kind of organization-A staff (KINDS)."""
    if kind == "super_in_a":
        user = make_staff(None, Role.SUPER_ADMIN)
        return signed_in(user, org_a), user
    user = make_staff(org_a, Role.ORG_ADMIN if kind == "org_admin" else Role.AGENT)
    return signed_in(user), user


def admin_url(model: type[models.Model], view: str = "changelist", obj: Any = None) -> str:
    """/admin/crm/<model>/..., for a row or a raw key."""
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    if view == "changelist":
        return base
    if view == "add":
        return base + "add/"
    key = obj.pk if isinstance(obj, models.Model) else obj
    return f"{base}{quote(key)}/{view}/"


def missing_key(model: type[models.Model]) -> Any:
    """A primary key no row has."""
    pk = model._meta.pk
    if isinstance(pk, models.UUIDField):
        return uuid.uuid4()
    if isinstance(pk, models.fields.AutoFieldMixin):
        return 2**31 - 7
    return "no-such-row-x"


def key_of(obj: models.Model) -> Any:
    """A row's key as the admin compares it (composite keys as tuples)."""
    return tuple(obj.pk) if isinstance(obj.pk, (list, tuple)) else obj.pk


@dataclass
class World:
    """Rows of every model in A and in B (B's rows marked), plus shared rows."""

    a: Organization
    b: Organization
    rows: dict[tuple[Any, type[models.Model]], list[Any]] = field(default_factory=dict)

    def of(self, org: Organization, model: type[models.Model]) -> list[Any]:
        return self.rows.get((org.pk, model), [])

    def keys(self, org: Organization, model: type[models.Model]) -> set[Any]:
        return {key_of(row) for row in self.of(org, model)}

    def b_texts(self) -> set[str]:
        """String keys of every B row (UUIDs, names) that must not appear in A's pages."""
        texts = {str(self.b.pk)}
        for (org_pk, model), rows in self.rows.items():
            if org_pk != self.b.pk:
                continue
            for row in rows:
                if isinstance(row.pk, uuid.UUID):
                    texts.add(str(row.pk))
        return texts

    def leaks(self, content: str, *, platform: bool = False) -> list[str]:
        """What of B's shows in `content` (platform staff may see B's name and id)."""
        found = [MARKER] if MARKER in content else []
        found += [text for text in self.b_texts() if text in content]
        if platform:
            found = [text for text in found if text != str(self.b.pk)]
        found += [f"{B_YEAR} date"] if B_YEAR_RE.search(content) else []
        return found


def _mark(model: type[models.Model], queryset: Any, counter: Any) -> None:
    """Give every text column of these rows a marker value, and every date one in B_YEAR."""
    texts = [
        f for f in model._meta.concrete_fields
        if isinstance(f, (models.CharField, models.TextField)) and not f.primary_key
        and not f.choices and not f.unique and f.name not in secret_fields(model)
        and (f.max_length is None or f.max_length >= 12)
        and META_ID not in f.validators  # Meta's ids: digits only, checked by the database
    ]
    dates = [f for f in model._meta.concrete_fields if isinstance(f, models.DateTimeField)]
    for row in queryset:
        values: dict[str, Any] = {f.attname: f"{MARKER}{next(counter):07d}" for f in texts}
        values.update({f.attname: datetime(B_YEAR, 1, 2, tzinfo=UTC) for f in dates})
        if values:
            model._base_manager.filter(pk=row.pk).update(**values)


def build_world(org_a: Organization, org_b: Organization) -> World:
    """One row of every model (with its parents) in A and in B; shared templates and mappings;
    one row of every shared model. B's rows are then marked (see `_mark`)."""
    tenant = [m for m in FACTORIES if is_tenant_model(m)]
    for org in (org_a, org_b):
        with tenant_context(org):
            for model in tenant:
                FACTORIES[model]()
    with unscoped():  # shared rows and the catalog are platform data
        TemplateFactory()
        ZohoMappingFactory()
        for model in FACTORIES:
            if not is_tenant_model(model) and model is not Organization:
                FACTORIES[model]()
        counter = itertools.count()
        for model in tenant:
            _mark(model, model._base_manager.filter(organization=org_b), counter)
        world = World(org_a, org_b)
        for model in tenant:
            for row in model._base_manager.filter(organization__in=[org_a, org_b]):
                world.rows.setdefault((row.organization_id, model), []).append(row)
        for model in FACTORIES:
            if not is_tenant_model(model):
                world.rows[(None, model)] = list(model._base_manager.all())
    return world


def registered() -> list[tuple[type[models.Model], Any]]:
    """Every (model, model admin) of the CRM admin site, in a stable order."""
    return sorted(site._registry.items(), key=lambda item: item[0]._meta.label)
