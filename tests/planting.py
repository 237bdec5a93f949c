"""Plant rows the way legacy wb-crm code wrote them: around the ORM and the same-organization keys.

On a taken-over database such rows predate crm.0011's keys, which stay NOT VALID there; the keys
are dropped for the write and added back NOT VALID, as they are on such a database. Inside the
test's transaction, so all of it is rolled back with the test.
"""
from __future__ import annotations

from typing import Any

from django.db import connection

from tenancy.context import unscoped


def plant(sql: str, params: list[Any]) -> None:
    """Run `sql` as legacy code would have, before the same-organization keys existed."""
    # Test set-up below the ORM on purpose: it builds the inconsistent data the audit reports,
    # across organizations (unscoped: row-level security lets nothing else write there).
    with unscoped(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conname LIKE '%%\\_same\\_org\\_fk'"
        )
        keys = cursor.fetchall()
        # Rows written earlier in the test have their deferred checks pending: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, name, _ in keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        cursor.execute(sql, params)
        for table, name, definition in keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
