"""The takeover's cut-over objects: crm.0002's derivation triggers and wb-crm's role's access.

While wb-crm and the port share a database, crm.0002 puts a trigger on every derived table (rows
wb-crm writes without organization get the derived one), and with TENANCY_LEGACY_ROLE every table
under row-level security gets a policy letting wb-crm's login through (tenancy.rls). Once wb-crm
has stopped, `tenancy_enforce` removes all of them, found in the catalog by name, and revokes that
login's grants (`tenancy_roles --legacy`): a rerun finds nothing left.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from django.db import connection, transaction
from psycopg2 import sql

from tenancy.rls import CUTOVER_POLICY

# The names crm.0002 gives them (a migration keeps its own copy).
TRIGGER = "wbcrm_takeover_organization"
FUNCTION_PREFIX = "wbcrm_takeover_"
LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")


def _rows(query: str, params: list[str]) -> list[tuple]:
    # Catalog reads: no tenant rows are involved.
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def remaining() -> dict[str, list[str]]:
    """{"triggers"|"policies": tables, "functions": signatures, "roles": wb-crm's logins} of the
    cut-over still installed."""
    return {
        "triggers": [t for (t,) in _rows(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
            [TRIGGER])],
        "policies": [t for (t,) in _rows(
            "SELECT tablename FROM pg_policies WHERE schemaname = 'public' "
            "AND policyname = %s ORDER BY 1", [CUTOVER_POLICY])],
        "functions": [f for (f,) in _rows(
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "WHERE p.pronamespace = 'public'::regnamespace AND starts_with(p.proname, %s) "
            "ORDER BY 1", [FUNCTION_PREFIX])],
        "roles": [r for (r,) in _rows(
            "SELECT DISTINCT unnest(roles)::text FROM pg_policies WHERE schemaname = 'public' "
            "AND policyname = %s ORDER BY 1", [CUTOVER_POLICY])],
    }


def _execute(statement: sql.Composable) -> None:
    """One DDL statement in its own short transaction, waiting at most TENANCY_LOCK_TIMEOUT."""
    # DDL and grants on the tables, not a query of their rows.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = %s", [LOCK_TIMEOUT])
        cursor.execute(statement)


def remove(say: Callable[[str], None] = lambda message: None) -> int:
    """Revoke wb-crm's login, drop every cut-over trigger, function and policy; return how many
    objects went."""
    found = remaining()
    statements: list[sql.Composable] = []
    for role in found["roles"]:
        # First, so a run killed half-way still finds the role through the policies left.
        name = sql.Identifier(role)
        statements += [sql.SQL(s).format(name) for s in (
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}",
            "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {}",
        )]
    statements += [sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
        sql.Identifier(TRIGGER), sql.Identifier("public", table)) for table in found["triggers"]]
    statements += [sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(
        sql.Identifier(CUTOVER_POLICY), sql.Identifier("public", table))
        for table in found["policies"]]
    statements += [sql.SQL("DROP FUNCTION IF EXISTS " + function)
                   for function in found["functions"]]
    for statement in statements:
        _execute(statement)
    removed = len(found["triggers"]) + len(found["policies"]) + len(found["functions"])
    if removed or found["roles"]:
        say(f"  cut-over removed: {len(found['triggers'])} derivation trigger(s), "
            f"{len(found['policies'])} policy(ies) and the grants of {', '.join(found['roles'])}"
            if found["roles"] else
            f"  cut-over removed: {len(found['triggers'])} derivation trigger(s)")
    return removed
