"""Plant rows the way legacy wb-crm code wrote them: around the ORM and the same-organization keys.

On a taken-over database such rows predate crm.0011's keys, which stay NOT VALID there; the keys
are dropped for the write and added back NOT VALID, as they are on such a database. Inside the
test's transaction, so all of it is rolled back with the test. Altering the keys takes the
tables' owner, and the tests run as the application role: the owner installs `PLANT_FUNCTION`
(SECURITY DEFINER) when it sets up the test database, and `plant()` calls it. Its search_path
ends in pg_temp, like every function of ours (tests/test_row_level_security.py checks them all).
"""
from __future__ import annotations

from typing import Any

from django.db import connection

from tenancy.context import unscoped

PLANT_FUNCTION = r"""
CREATE OR REPLACE FUNCTION wbcrm_test_plant(statement text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    key record;
BEGIN
    -- Rows written earlier in the test have their deferred checks pending: run them now.
    SET CONSTRAINTS ALL IMMEDIATE;
    CREATE TEMP TABLE IF NOT EXISTS planted_keys (tbl text, name text, definition text);
    DELETE FROM pg_temp.planted_keys;
    INSERT INTO pg_temp.planted_keys
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE conname LIKE '%\_same\_org\_fk';
    FOR key IN SELECT * FROM pg_temp.planted_keys LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', key.tbl, key.name);
    END LOOP;
    EXECUTE statement;
    FOR key IN SELECT * FROM pg_temp.planted_keys LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s NOT VALID', key.tbl, key.name,
                       key.definition);
    END LOOP;
    SET CONSTRAINTS ALL DEFERRED;
END
$$
"""


def plant(sql: str, params: list[Any]) -> None:
    """Run `sql` as legacy code would have, before the same-organization keys existed."""
    # Test set-up below the ORM on purpose: it builds the inconsistent data the audit reports,
    # across organizations (unscoped: row-level security lets nothing else write there).
    with unscoped(), connection.cursor() as cursor:
        statement = cursor.mogrify(sql, params).decode()
        cursor.execute("SELECT wbcrm_test_plant(%s)", [statement])
