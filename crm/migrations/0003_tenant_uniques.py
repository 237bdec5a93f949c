"""Uniqueness per organization where wb-crm's was global (tenants must not collide or probe).

customers.wa_id, leads.zoho_lead_id, payment_transactions.transaction_id and
zoho_mappings.treatment_name (per organization, and once among the shared rows). The new unique
index is built concurrently before the global one is dropped, so uniqueness never lapses and writes
are never blocked for long. Decided from the catalog: safe to re-run after a kill.
"""
from __future__ import annotations

import os

from django.db import migrations, models

import crm.fields

LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")

# (table, column, new unique name, new columns, partial condition, keep a plain index on column)
SWAPS = [
    ("customers", "wa_id", "customers_org_wa_id_uniq", "organization_id, wa_id", None, True),
    ("leads", "zoho_lead_id", "leads_org_zoho_lead_id_uniq", "organization_id, zoho_lead_id",
     None, False),
    ("payment_transactions", "transaction_id", "payment_tx_org_tx_id_uniq",
     "organization_id, transaction_id", None, False),
    ("zoho_mappings", "treatment_name", "zoho_mappings_org_treatment_uniq",
     "organization_id, treatment_name", None, False),
    ("zoho_mappings", "treatment_name", "zoho_mappings_shared_treatment_uniq", "treatment_name",
     "organization_id IS NULL", False),
]


def _execute(connection, sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])
        cursor.execute(sql, params)
        cursor.execute("RESET lock_timeout")


def _fetch(connection, sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _indexes(connection, table):
    """{name: (valid, unique, partial, columns, backing constraint or None)} of `table`."""
    rows = _fetch(
        connection,
        "SELECT c.relname, i.indisvalid, i.indisunique, i.indpred IS NOT NULL, "
        "ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n) "
        "      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "      ORDER BY k.n)::text[], con.conname "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'u' "
        "WHERE i.indrelid = to_regclass(%s) AND NOT i.indisprimary",
        [table],
    )
    return {
        name: (valid, unique, partial, list(cols), con)
        for name, valid, unique, partial, cols, con in rows
    }


def _ensure_index(connection, table, name, columns, unique, condition):
    """Build `name` concurrently unless a valid index of that name exists."""
    found = _indexes(connection, table).get(name)
    if found and found[0]:
        return
    if found:  # left invalid by a killed concurrent build
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    where = f" WHERE {condition}" if condition else ""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    _execute(connection, f"CREATE {kind} CONCURRENTLY {name} ON {table} ({columns}){where}")


def _drop_index_or_constraint(connection, table, name, constraint):
    if constraint:
        _execute(connection, f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
    else:
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class SwapUniques(migrations.operations.base.Operation):
    """PostgreSQL: catalog-driven concurrent swap; elsewhere the plain state operations."""

    reversible = True

    def __init__(self, state_operations):
        self.state_operations = state_operations

    def state_forwards(self, app_label, state):
        pass

    def describe(self):
        return "Make wb-crm's global unique columns unique per organization"

    def _plain(self):
        return migrations.SeparateDatabaseAndState(database_operations=self.state_operations)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            self._plain().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        for table, column, name, columns, condition, keep_index in SWAPS:
            _ensure_index(connection, table, name, columns, True, condition)
            if not condition and _indexes(connection, table)[name][4] is None:
                _execute(
                    connection,
                    f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}",
                )
            if keep_index:
                _ensure_index(connection, table, f"{table}_{column}_idx", column, False, None)
        # Only once every replacement exists: the global uniques go.
        for table, column in dict.fromkeys((table, column) for table, column, *_ in SWAPS):
            for old, (_, unique, partial, cols, con) in _indexes(connection, table).items():
                if unique and not partial and cols == [column]:
                    _drop_index_or_constraint(connection, table, old, con)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            self._plain().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        for table, column, name, _, _, keep_index in reversed(SWAPS):
            _ensure_index(connection, table, f"ix_{table}_{column}", column, True, None)
            found = _indexes(connection, table)
            if name in found:
                _drop_index_or_constraint(connection, table, name, found[name][4])
            if keep_index and f"{table}_{column}_idx" in found:
                _drop_index_or_constraint(connection, table, f"{table}_{column}_idx", None)


STATE_OPERATIONS = [
    migrations.AlterField(
        model_name="customer", name="wa_id", field=crm.fields.VarCharField(db_index=True)
    ),
    migrations.AlterField(model_name="lead", name="zoho_lead_id", field=crm.fields.VarCharField()),
    migrations.AlterField(
        model_name="paymenttransaction", name="transaction_id",
        field=models.CharField(max_length=100),
    ),
    migrations.AlterField(
        model_name="zohomapping", name="treatment_name", field=models.CharField(max_length=255)
    ),
    migrations.AddConstraint(
        model_name="customer",
        constraint=models.UniqueConstraint(
            fields=("organization", "wa_id"), name="customers_org_wa_id_uniq"
        ),
    ),
    migrations.AddConstraint(
        model_name="lead",
        constraint=models.UniqueConstraint(
            fields=("organization", "zoho_lead_id"), name="leads_org_zoho_lead_id_uniq"
        ),
    ),
    migrations.AddConstraint(
        model_name="paymenttransaction",
        constraint=models.UniqueConstraint(
            fields=("organization", "transaction_id"), name="payment_tx_org_tx_id_uniq"
        ),
    ),
    migrations.AddConstraint(
        model_name="zohomapping",
        constraint=models.UniqueConstraint(
            fields=("organization", "treatment_name"), name="zoho_mappings_org_treatment_uniq"
        ),
    ),
    migrations.AddConstraint(
        model_name="zohomapping",
        constraint=models.UniqueConstraint(
            condition=models.Q(("organization__isnull", True)), fields=("treatment_name",),
            name="zoho_mappings_shared_treatment_uniq",
        ),
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0002_organization_id")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=STATE_OPERATIONS,
            database_operations=[SwapUniques(STATE_OPERATIONS)],
        ),
    ]
