"""NOT NULL on organization_id, online, wherever every row of a tenant table has an organization.

Per table: `CHECK (organization_id IS NOT NULL) NOT VALID` (instant; refuses new NULLs at once),
`VALIDATE CONSTRAINT` (scans without blocking writes), `SET NOT NULL` (PostgreSQL 12+ trusts the
validated check and skips the scan, so its exclusive lock is brief), then the check is dropped.
Every step is decided from the catalog, so a run killed anywhere is finished by the next one.
When every table is done, crm.0002's cut-over triggers and wb-crm's policy are removed
(tenancy.cutover): run it once wb-crm has stopped.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, models
from django.db.utils import IntegrityError

from tenancy import cutover
from tenancy.audit import null_keys, tenant_models

LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")


@dataclass
class Enforced:
    """What `enforce()` did, table by table."""

    made_not_null: list[str] = field(default_factory=list)
    already_not_null: list[str] = field(default_factory=list)
    nullable_by_design: list[str] = field(default_factory=list)
    # table: {reason: keys} of the rows that keep it nullable (tenancy_audit's reasons)
    left_nullable: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # crm.0002's cut-over triggers, functions and policies dropped by this run
    cutover_removed: int = 0


def check_name(table: str) -> str:
    """The temporary check's name."""
    return f"{table}_organization_id_not_null"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _fetch_one(sql: str, params: list[str]) -> tuple | None:
    # Catalog reads: no tenant rows are involved.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _ddl(sql: str) -> None:
    """One DDL statement in its own transaction, waiting at most TENANCY_LOCK_TIMEOUT for locks."""
    # DDL on the table itself, not a query of its rows.
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])
        try:
            cursor.execute(sql)
        finally:
            cursor.execute("RESET lock_timeout")


def _is_not_null(table: str) -> bool:
    row = _fetch_one(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attname = 'organization_id'", [table],
    )
    return bool(row and row[0])


def _check_validated(table: str) -> bool | None:
    row = _fetch_one(
        "SELECT convalidated FROM pg_constraint WHERE conrelid = to_regclass(%s) AND conname = %s",
        [table, check_name(table)],
    )
    return row[0] if row else None


def _make_not_null(table: str) -> None:
    name = check_name(table)
    if _check_validated(table) is None:
        _ddl(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} "
             "CHECK (organization_id IS NOT NULL) NOT VALID")
    if not _check_validated(table):
        _ddl(f"ALTER TABLE {_q(table)} VALIDATE CONSTRAINT {_q(name)}")
    _ddl(f"ALTER TABLE {_q(table)} ALTER COLUMN organization_id SET NOT NULL")
    _ddl(f"ALTER TABLE {_q(table)} DROP CONSTRAINT {_q(name)}")


def enforce(say: Callable[[str], None] = lambda message: None) -> Enforced:
    """Make organization_id NOT NULL on every tenant table that allows it; report the others."""
    done = Enforced()
    for model in tenant_models():
        table = model._meta.db_table
        if model.null_organization_allowed():
            done.nullable_by_design.append(table)
        elif _is_not_null(table):
            _drop_leftover_check(model)
            done.already_not_null.append(table)
        elif blockers := null_keys(model):
            done.left_nullable[table] = blockers
        else:
            try:
                _make_not_null(table)
            except IntegrityError:
                # A row without organization was written before the check existed: it stays.
                done.left_nullable[table] = null_keys(model)
                continue
            done.made_not_null.append(table)
            say(f"  {table}: organization_id is NOT NULL")
    if not done.left_nullable:
        # wb-crm has stopped (the runbook's order): its triggers and policy go. While a table is
        # left nullable they stay, so rows written meanwhile still get their organization.
        done.cutover_removed = cutover.remove(say)
    return done


def _drop_leftover_check(model: type[models.Model]) -> None:
    """A run killed between SET NOT NULL and dropping the check: drop it now."""
    table = model._meta.db_table
    if _check_validated(table) is not None:
        _ddl(f"ALTER TABLE {_q(table)} DROP CONSTRAINT {_q(check_name(table))}")
