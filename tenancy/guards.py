"""Write-time rules: a row joins the active organization and points only at its own rows."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from tenancy.context import get_state, unscoped
from tenancy.exceptions import CrossTenantError, TenantNotSetError

if TYPE_CHECKING:
    from tenancy.models import TenantModel


def is_tenant_model(model: type[models.Model]) -> bool:
    """Return True for concrete subclasses of TenantModel."""
    from tenancy.models import TenantModel

    return issubclass(model, TenantModel) and not model._meta.abstract


def as_uuid(value: Any) -> uuid.UUID | None:
    """Normalise an id given as UUID or string."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _label(obj: models.Model) -> str:
    return f"{obj._meta.label} {obj.pk!r}" if obj.pk is not None else f"a new {obj._meta.label}"


def python_scope() -> bool:
    """False only in the test mode that proves PostgreSQL's policies isolate on their own."""
    return bool(getattr(settings, "TENANCY_PYTHON_SCOPE", True))


def require_organization(model: type[models.Model]) -> uuid.UUID | None:
    """Return the active organization id (None inside `unscoped()`); raise when none is active.

    With the Python scope switched off it checks nothing and returns None: the database decides.
    """
    state = get_state()
    if state.unscoped or not python_scope():
        return None
    if state.organization_id is None:
        raise TenantNotSetError(
            f"{model._meta.label} is tenant-scoped and no organization is active: wrap the code in "
            "tenant_context(organization), or in unscoped() if it must cross organizations."
        )
    return state.organization_id


def derive_organization_id(obj: TenantModel) -> uuid.UUID | None:
    """Return the organization the model's declared derivations give `obj`, or None."""
    for derivation in type(obj).tenant_derivation:
        found = derivation.organization_for(obj)
        if found is not None:
            return found
    return None


def prepare_for_write(obj: TenantModel) -> None:
    """Give a new row its organization; refuse a row of another (or of no) organization."""
    obj.organization_id = as_uuid(obj.organization_id)
    state = get_state()
    if not python_scope() and not state.unscoped:
        if obj.organization_id is None and obj._state.adding:
            obj.organization_id = state.organization_id  # joins the organization, unchecked
        return
    current = require_organization(type(obj))
    if current is None:  # unscoped(): derive, never guess
        if obj.organization_id is None and obj._state.adding:
            obj.organization_id = derive_organization_id(obj)
            if obj.organization_id is None and not type(obj).null_organization_allowed():
                raise TenantNotSetError(
                    f"Cannot tell which organization {_label(obj)} belongs to: set its "
                    "organization, or the parent row it is derived from."
                )
        return
    if obj.organization_id is None:
        if obj._state.adding:
            obj.organization_id = current
            return
        raise CrossTenantError(
            f"{_label(obj)} belongs to no organization (a shared or not yet migrated row); "
            "only code inside unscoped() may change it."
        )
    if obj.organization_id != current:
        raise CrossTenantError(
            f"{_label(obj)} belongs to organization {obj.organization_id}, not to the active "
            f"organization {current}."
        )


LOADED = "_tenant_loaded"  # (pk, organization_id) as last read from or written to the database


def remember_stored(obj: models.Model) -> None:
    """Note the key and organization the database holds for `obj` (after a load or a save)."""
    setattr(obj, LOADED, (obj.pk, as_uuid(obj.organization_id)))


FRESH = "_tenant_fresh_key"  # the random key a new instance drew from its field's uuid4 default


def remember_fresh_key(obj: models.Model, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Note the key of a new instance when its uuid4 default drew it (no key was passed)."""
    pk = obj._meta.pk
    if not args and pk.default is uuid.uuid4 and not ({pk.name, pk.attname, "pk"} & kwargs.keys()):
        obj.__dict__[FRESH] = obj.pk


def _trusted(obj: models.Model) -> bool:
    """True when `obj`'s key and organization are what the database gave us, unchanged."""
    return getattr(obj, LOADED, None) == (obj.pk, as_uuid(obj.organization_id))


class _Missing:
    """No row with that key."""


MISSING = _Missing()


def stored_organization(obj: models.Model) -> uuid.UUID | None | _Missing:
    """The organization the database holds for `obj`'s key (MISSING when no row has it).

    An instance in memory can carry any organization_id; only one loaded from the database and
    unchanged since is taken at its word, anything else is looked up.
    """
    if _trusted(obj):
        return as_uuid(obj.organization_id)
    if obj.pk is None:
        return MISSING
    # The row's real owner is only compared by the caller, never returned to the application.
    with unscoped():
        rows = type(obj)._base_manager.filter(pk=obj.pk)
        found = list(rows.values_list("organization_id", flat=True)[:1])
    return as_uuid(found[0]) if found else MISSING


def guard_delete(obj: TenantModel) -> None:
    """Refuse to delete a row outside the active organization (shared rows: only unscoped)."""
    current = require_organization(type(obj))
    if current is None:
        return
    stored = stored_organization(obj)
    if stored is not MISSING and stored != current:
        raise CrossTenantError(f"{_label(obj)} is not in the active organization {current}.")


def guard_existing_row(obj: TenantModel) -> None:
    """Refuse a save whose key names a row of another organization, or a shared row.

    Django UPDATEs by key before it INSERTs: with the key of a shared row (visible to every
    organization) that UPDATE would take the row over; with another organization's key it would
    fail on the unique key, telling the caller that the row exists.
    """
    current = require_organization(type(obj))
    if current is None or obj.pk is None or _trusted(obj):
        return
    if obj.__dict__.get(FRESH) == obj.pk:
        return  # a key just drawn at random names no existing row: nothing to look up
    stored = stored_organization(obj)
    if stored is MISSING or stored == current:
        return
    owner = "a shared row" if stored is None else "a row of another organization"
    raise CrossTenantError(
        f"{_label(obj)}: that key is already {owner}; leave the key empty for a new row."
    )


def guard_upsert(model: type[TenantModel], objs: Sequence[TenantModel],
                 unique_fields: Sequence[str] | None) -> None:
    """Refuse bulk_create(update_conflicts=True) whose conflict target names others' rows."""
    current = require_organization(model)
    fields = [model._meta.get_field(name) for name in unique_fields or [model._meta.pk.name]]
    if current is None or any(f.name == "organization" for f in fields):
        return  # conflicts can only be with the active organization's own rows
    targets = models.Q()
    for obj in objs:
        targets |= models.Q(**{f.attname: getattr(obj, f.attname) for f in fields})
    # Only compared here: which organizations own the rows the upsert would overwrite.
    with unscoped():
        owners = set(model._base_manager.filter(targets).values_list("organization_id",
                                                                     flat=True))
    if owners - {current}:
        raise CrossTenantError(
            f"bulk_create(update_conflicts=True) would overwrite {model._meta.label} rows of "
            "another organization, or shared rows: choose other keys."
        )


@cache
def tenant_foreign_keys(model: type[models.Model]) -> tuple[models.ForeignKey, ...]:
    """Concrete foreign keys from `model` to tenant models, the organization itself excluded."""
    return tuple(
        field
        for field in model._meta.concrete_fields
        if field.is_relation
        and (field.many_to_one or field.one_to_one)
        and is_tenant_model(field.related_model)
    )


def _check_parent(
    obj: TenantModel, field: models.ForeignKey, parent_org: uuid.UUID | None
) -> None:
    if parent_org == obj.organization_id:
        return
    if parent_org is None and field.related_model.null_organization_allowed():
        return  # shared rows and platform staff belong to no organization by design
    owner = "no organization" if parent_org is None else "another organization"
    raise CrossTenantError(
        f"{_label(obj)}.{field.name} points at {field.related_model._meta.label} "
        f"{getattr(obj, field.attname)!r}, which belongs to {owner}: "
        "choose a row of the same organization."
    )


def check_references(objs: Sequence[TenantModel], fields: Iterable[str] | None = None) -> None:
    """Refuse rows that point at another organization's rows; one query per foreign key."""
    if not objs or not python_scope():
        return
    wanted = set(fields) if fields is not None else None
    for field in tenant_foreign_keys(type(objs[0])):
        if wanted is not None and field.name not in wanted and field.attname not in wanted:
            continue
        target = field.target_field
        pending: dict[Any, list[TenantModel]] = {}
        for obj in objs:
            value = getattr(obj, field.attname)
            if value is None:
                continue
            parent = field.get_cached_value(obj, default=None) if field.is_cached(obj) else None
            if parent is not None and _trusted(parent):
                _check_parent(obj, field, as_uuid(parent.organization_id))
            else:
                pending.setdefault(target.to_python(value), []).append(obj)
        if not pending:
            continue
        # The parents' real organizations are only compared here, never returned to the caller.
        with unscoped():
            owners = dict(
                field.related_model._base_manager.filter(
                    **{f"{target.attname}__in": list(pending)}
                ).values_list(target.attname, "organization_id")
            )
        for value, children in pending.items():
            if value in owners:  # a dangling value is the database constraint's business
                for obj in children:
                    _check_parent(obj, field, owners[value])


def guard_raw_save(sender: type[models.Model], instance: models.Model, raw: bool = False,
                   **kwargs: Any) -> None:
    """pre_save: a raw save (`loaddata`, save_base with raw=True) skips TenantModel.save(), so it
    gets the same rules here: inside an organization, only that organization's rows, pointing
    only at its rows, never over another organization's or a shared row."""
    if not raw or not is_tenant_model(sender):
        return
    current = require_organization(sender)
    if current is None:
        return
    if as_uuid(instance.organization_id) != current:
        raise CrossTenantError(
            f"{_label(instance)} is a raw save into organization {instance.organization_id}, "
            f"not the active organization {current}: load it inside that organization."
        )
    check_references([instance])
    guard_existing_row(instance)
