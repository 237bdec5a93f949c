"""TenantModel: the abstract base of every tenant table, with a fail-closed scoped manager."""
from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, ClassVar

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FullResultSet
from django.db import models
from django.db.models.expressions import Col, Expression
from django.db.models.lookups import Exact, IsNull
from django.db.models.sql.constants import LOUTER
from django.db.models.sql.datastructures import BaseTable, Join
from django.db.models.sql.where import AND, OR, WhereNode

from tenancy.context import get_state
from tenancy.derivations import Derivation
from tenancy.exceptions import CrossTenantError, TenantNotSetError
from tenancy.guards import (
    FRESH,
    as_uuid,
    check_references,
    guard_delete,
    guard_existing_row,
    guard_upsert,
    is_tenant_model,
    remember_fresh_key,
    prepare_for_write,
    python_scope,
    remember_stored,
    require_organization,
    tenant_foreign_keys,
)


class TenantScope(Expression):
    """WHERE condition on the organization column, decided when the SQL is compiled.

    Compiling late (not when the queryset is built) is what keeps a queryset built under one
    organization from ever reading another's rows, and it survives cloning into UPDATE, DELETE,
    COUNT, EXISTS and subqueries.
    """

    conditional = True
    output_field = models.BooleanField()  # shared, as Django's Exists does: built once

    def __init__(self, column: Expression | None = None, *, shared_rows: bool = False) -> None:
        super().__init__()
        self.column = column
        self.shared_rows = shared_rows

    def get_source_expressions(self) -> list[Expression | None]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Expression]) -> None:
        (self.column,) = exprs

    def resolve_expression(self, query: Any = None, *args: Any, **kwargs: Any) -> TenantScope:
        if self.column is not None:
            # Already bound to its own query; used as a subquery it is re-resolved against the
            # outer one, whose aliases Django relabels through get_source_expressions().
            return self
        clone = self.copy()
        # The base table's own column: no join to resolve, so this stays cheap on every access.
        field = query.model._meta.get_field("organization")
        clone.column = Col(query.get_initial_alias(), field, field)
        return clone

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        state = get_state()
        if state.unscoped or not python_scope():
            raise FullResultSet  # Django drops the condition: every organization's rows
        if state.organization_id is None:
            raise TenantNotSetError(
                f"{self.column.target.model._meta.label} is tenant-scoped and no organization is "
                "active: wrap the code in tenant_context(organization), or in unscoped() if it "
                "must cross organizations."
            )
        conditions = [_visible(self.column, state.organization_id, self.shared_rows)]
        conditions += _joined_conditions(compiler.query, state.organization_id)
        return compiler.compile(WhereNode(conditions, connector=AND))


def _visible(column: Col, organization_id: Any, null_allowed: bool) -> Expression:
    """`column = organization_id`, or NULL too where rows may belong to no organization."""
    condition = Exact(column, organization_id)
    if null_allowed:
        return WhereNode([condition, IsNull(column, True)], connector=OR)
    return condition


@cache
def _tenant_tables() -> dict[str, type[models.Model]]:
    return {model._meta.db_table: model for model in apps.get_models() if is_tenant_model(model)}


def tenant_aliases(query: Any, include_base: bool = False) -> list[str]:
    """Aliases of tenant tables the query reads: its joins, and with `include_base` its base."""
    found = []
    for alias, table in query.alias_map.items():
        if _tenant_tables().get(table.table_name) is None or not query.alias_refcount.get(alias):
            continue  # not a tenant table, or trimmed away (exclude() subqueries)
        if isinstance(table, Join) or (include_base and isinstance(table, BaseTable)):
            found.append(alias)
    return found


def table_conditions(query: Any, aliases: list[str], organization_id: Any) -> list[Expression]:
    """The organization condition on each alias; a LEFT JOIN still matches no row at all."""
    conditions: list[Expression] = []
    for alias in aliases:
        table = query.alias_map[alias]
        model = _tenant_tables()[table.table_name]
        column = Col(alias, model._meta.get_field("organization"))
        condition = _visible(column, organization_id, model.null_organization_allowed())
        if isinstance(table, Join) and table.join_type == LOUTER:
            unmatched = IsNull(Col(alias, table.join_fields[0][1]), True)
            condition = WhereNode([condition, unmatched], connector=OR)
        conditions.append(condition)
    return conditions


def _joined_conditions(query: Any, organization_id: Any) -> list[Expression]:
    """Scope every tenant table the query joins, so no join reaches another organization's row.

    Save-time checks keep parents and children in one organization; this also holds for legacy
    rows that `tenancy_audit` reports as inconsistent.
    """
    return table_conditions(query, tenant_aliases(query), organization_id)


class TenantQuerySet(models.QuerySet):
    """A QuerySet whose writes keep rows inside the active organization."""

    def _own_rows(self) -> TenantQuerySet:
        """Drop shared rows (no organization) unless inside unscoped(): only it writes them."""
        if self.model.shared_rows and require_organization(self.model) is not None:
            return self.filter(organization__isnull=False)
        return self

    def update(self, **kwargs: Any) -> int:
        current = require_organization(self.model)
        org = kwargs.get("organization", kwargs.get("organization_id"))
        clears = org is None and {"organization", "organization_id"} & set(kwargs)
        if current is not None and clears:
            raise CrossTenantError(
                f"update() would leave {self.model._meta.label} rows with no organization "
                "(shared, or invisible to everyone); do that inside unscoped(), deliberately."
            )
        if current is not None and org is not None and as_uuid(getattr(org, "pk", org)) != current:
            raise CrossTenantError(
                f"update() would move {self.model._meta.label} rows to another organization; "
                "do that inside unscoped(), deliberately."
            )
        if python_scope():
            self._check_update_references(kwargs)
        return super(TenantQuerySet, self._own_rows()).update(**kwargs)

    update.alters_data = True

    def _check_update_references(self, kwargs: dict[str, Any]) -> None:
        """Refuse an update that points rows at a parent of another organization."""
        for field in tenant_foreign_keys(self.model):
            for key in (field.name, field.attname):
                if key not in kwargs or kwargs[key] is None:
                    continue
                value = kwargs[key]
                if hasattr(value, "resolve_expression"):
                    raise CrossTenantError(
                        f"update({key}=<expression>) cannot be checked for organization; "
                        "assign a row or its id."
                    )
                parent = value if isinstance(value, models.Model) else None
                parent_org = (
                    parent.organization_id
                    if parent is not None
                    else field.related_model._base_manager.filter(
                        **{field.target_field.attname: value}
                    )
                    .values_list("organization_id", flat=True)
                    .first()
                )
                if self.exclude(organization_id=parent_org).exists():
                    raise CrossTenantError(
                        f"update({key}=...) would point {self.model._meta.label} rows at a "
                        f"{field.related_model._meta.label} of another organization."
                    )

    def delete(self) -> tuple[int, dict[str, int]]:
        return super(TenantQuerySet, self._own_rows()).delete()

    delete.alters_data = True
    delete.queryset_only = True

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        for obj in objs:
            prepare_for_write(obj)
        check_references(objs)
        options = inspect.signature(models.QuerySet.bulk_create).bind(self, objs, *args, **kwargs)
        # An upsert's conflict target may name rows the scope never sees: checked here.
        if objs and options.arguments.get("update_conflicts"):
            guard_upsert(self.model, objs, options.arguments.get("unique_fields"))
        created = super().bulk_create(objs, *args, **kwargs)
        for obj in created:
            remember_stored(obj)
        return created

    def bulk_update(self, objs: Iterable[Any], fields: Sequence[str], *args: Any, **kw: Any) -> int:
        objs = list(objs)
        for obj in objs:
            prepare_for_write(obj)
        check_references(objs, fields)
        return super().bulk_update(objs, fields, *args, **kw)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """Sees the active organization's rows only; raises when no organization is active."""

    def get_queryset(self) -> TenantQuerySet:
        scope = TenantScope(shared_rows=self.model.shared_rows)
        return super().get_queryset().filter(scope)

    def raw(self, *args: Any, **kwargs: Any) -> Any:
        if require_organization(self.model) is not None:
            raise TenantNotSetError(
                f"raw SQL on {self.model._meta.label} cannot be scoped: use the ORM, or "
                "unscoped() with your own organization_id condition."
            )
        return super().raw(*args, **kwargs)


class TenantModel(models.Model):
    """Base of every tenant table: an organization column and a scoped default manager."""

    organization = models.ForeignKey(
        settings.TENANCY_ORGANIZATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    objects = TenantManager()

    # How a row's organization follows from its parents (see tenancy.derivations).
    tenant_derivation: ClassVar[tuple[Derivation, ...]] = ()
    # Rows with no organization are shared: every organization reads them, only unscoped() writes.
    shared_rows: ClassVar[bool] = False
    # Rows with no organization are platform-wide (SUPER_ADMIN users), visible to no organization.
    platform_rows: ClassVar[bool] = False

    class Meta:
        abstract = True
        base_manager_name = "objects"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        remember_fresh_key(self, args, kwargs)

    @classmethod
    def null_organization_allowed(cls) -> bool:
        """Return True when a row may legitimately belong to no organization."""
        return cls.shared_rows or cls.platform_rows

    @classmethod
    def from_db(cls, db: str | None, field_names: Sequence[str], values: Sequence[Any]) -> Any:
        obj = super().from_db(db, field_names, values)
        if "organization_id" in field_names:
            remember_stored(obj)
        return obj

    def save(self, *args: Any, **kwargs: Any) -> None:
        prepare_for_write(self)
        check_references([self], kwargs.get("update_fields"))
        guard_existing_row(self)
        super().save(*args, **kwargs)
        self.__dict__.pop(FRESH, None)  # saved: from now on the stored row is what is trusted
        remember_stored(self)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        guard_delete(self)
        return super().delete(*args, **kwargs)
