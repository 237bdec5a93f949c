"""Same-tenant keys: a child row can only point at a parent of its own organization.

Unique (organization_id, id) on every parent table, and a composite foreign key
(organization_id, parent_id) -> parent (organization_id, id) along each derivation relation
(the models' `tenant_derivation`, frozen below: a migration must not change with the models).
MATCH SIMPLE: a row whose organization_id or parent id is NULL is not checked (shared, platform and
not yet derived rows). DEFERRABLE INITIALLY DEFERRED like Django's own keys, so rows may be written
in any order inside a transaction and are checked at COMMIT.

Online and idempotent, decided from the catalog (a re-run after a kill ends where an uninterrupted
run ends): the unique index is built CONCURRENTLY, then attached as a constraint (USING INDEX,
instant); each key is added NOT VALID (instant; enforced from then on for every new write) and
validated (no write blocked) only where no row disagrees. Where legacy rows disagree, the key stays
NOT VALID and the report names them: fix them (`tenancy_audit` lists them too) and run `migrate`
again, or validate by hand.

Left without a database key, on purpose (the Python guards and row-level security cover them):
- relations to `users` (campaigns.created_by, quick_replies.created_by, api_tokens.user): platform
  staff have no organization and act inside any one, so parent and child organizations may differ;
- relations that have no foreign key in wb-crm (db_constraint=False): leads.customer_id and
  whatsapp_api_logs.campaign_id / job_id (logs and leads outlive their parents, dangling ids are
  kept) and number_flow_configs.phone_number_id (a flow may be set up before its number exists);
  a composite key would also impose existence and change what deleting a parent does.
Only PostgreSQL gets the keys: other backends (the SQLite demo) rely on the Python layer.
"""
from __future__ import annotations

import os
import sys
import time

from django.db import OperationalError, migrations, transaction

LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")
# Adding a key locks the child, then the parent. wb-crm, still writing during a takeover, may hold
# the parent and wait for the child: both tables are locked together in one statement, each try
# waiting less than PostgreSQL's deadlock_timeout (1s) before letting go and trying again.
TOGETHER_TRY_TIMEOUT = "200ms"
TOGETHER_TRIES = 200
LOCK_NOT_AVAILABLE = "55P03"
EXAMPLES = 10  # blocking rows named per key in the report

# Parent tables: the unique (organization_id, id) each composite key references.
PARENTS = ["customers", "campaigns", "orders"]
# (child table, its column, parent table, child primary-key columns): every derivation relation
# with a database foreign key to a parent that always has an organization.
KEYS = [
    ("messages", "customer_id", "customers", ("id",)),
    ("job_status", "customer_id", "customers", ("job_id", "customer_id")),
    ("orders", "customer_id", "customers", ("id",)),
    ("referrer_tracking", "customer_id", "customers", ("id",)),
    ("customer_addresses", "customer_id", "customers", ("id",)),
    ("address_collection_sessions", "customer_id", "customers", ("id",)),
    ("jobs", "campaign_id", "campaigns", ("id",)),
    ("campaign_recipients", "campaign_id", "campaigns", ("id",)),
    ("campaign_logs", "campaign_id", "campaigns", ("id",)),
    ("order_items", "order_id", "orders", ("id",)),
    ("payments", "order_id", "orders", ("id",)),
    ("payment_transactions", "order_id", "orders", ("id",)),
]


def unique_name(table):
    return f"{table}_org_id_uniq"


def key_name(table, column):
    return f"{table}_{column}_same_org_fk"


def _say(message):
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _fetch(connection, sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _execute(connection, sql):
    """One statement with a lock timeout: DDL never queues behind a long transaction for long."""
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])
        try:
            cursor.execute(sql)
        finally:
            cursor.execute("RESET lock_timeout")


def _execute_locking(connection, sql, tables):
    """`sql` in a transaction that first locks `tables` together (see TOGETHER_TRY_TIMEOUT)."""
    for attempt in range(TOGETHER_TRIES):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = %s", [TOGETHER_TRY_TIMEOUT])
                cursor.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE")
                cursor.execute(sql)
            return
        except OperationalError as error:
            if getattr(error.__cause__, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
        time.sleep(min(0.05 * (attempt + 1), 0.3))
    raise OperationalError(
        f"could not lock {', '.join(tables)} together in {TOGETHER_TRIES} tries: long "
        "transactions keep them busy. End them (pg_stat_activity) and run migrate again."
    )


def _index_valid(connection, name):
    """True / False for a valid / invalid index `name`; None when there is none."""
    rows = _fetch(
        connection,
        "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)", [name],
    )
    return rows[0][0] if rows else None


def _constraint(connection, table, name):
    """(contype, validated) of constraint `name` on `table`, or None."""
    rows = _fetch(
        connection,
        "SELECT contype, convalidated FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND conname = %s", [table, name],
    )
    return rows[0] if rows else None


def blocking_rows(connection, table, column, parent, pk):
    """Keys of `table` rows whose parent exists only in another organization (or in none)."""
    parts = [f"c.{c}::text" for c in pk]
    key = parts[0] if len(parts) == 1 else f"concat_ws('|', {', '.join(parts)})"
    return [row[0] for row in _fetch(
        connection,
        f"SELECT {key} FROM {table} c WHERE c.organization_id IS NOT NULL "
        f"AND c.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} p "
        f"WHERE p.organization_id = c.organization_id AND p.id = c.{column}) ORDER BY 1",
    )]


def ensure_parent_unique(connection, table):
    """Unique (organization_id, id): built concurrently, then attached as a constraint."""
    name = unique_name(table)
    if _constraint(connection, table, name):
        return
    valid = _index_valid(connection, name)
    if valid is False:  # left invalid by a killed concurrent build
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    if not valid:
        _execute(connection,
                 f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} (organization_id, id)")
    _execute(connection, f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}")
    _say(f"  {table}: unique (organization_id, id) built concurrently")


def ensure_key(connection, table, column, parent, pk):
    """Add the composite key NOT VALID; validate it when no row disagrees. Return blockers."""
    name = key_name(table, column)
    found = _constraint(connection, table, name)
    if found is None:
        _execute_locking(
            connection,
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (organization_id, {column}) "
            f"REFERENCES {parent} (organization_id, id) DEFERRABLE INITIALLY DEFERRED NOT VALID",
            [table, parent],
        )
        found = ("f", False)
    if found[1]:
        return []
    blockers = blocking_rows(connection, table, column, parent, pk)
    if not blockers:
        _execute(connection, f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
        _say(f"  {table}: {name} validated")
    return blockers


class SameTenantKeys(migrations.operations.base.Operation):
    """The unique parent keys and composite foreign keys; PostgreSQL only, no model state."""

    reversible = True

    def state_forwards(self, app_label, state):
        pass  # Django models cannot declare composite foreign keys: database only

    def describe(self):
        return "Composite keys keeping each reference inside one organization"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        for table in PARENTS:
            ensure_parent_unique(connection, table)
        report = []
        for table, column, parent, pk in KEYS:
            report.append((table, column, parent, ensure_key(connection, table, column, parent, pk)))
        _say("same-organization keys report (NOT VALID keys still refuse new writes):")
        for table, column, parent, blockers in report:
            name = key_name(table, column)
            if not blockers:
                _say(f"  {name:<52} validated")
                continue
            shown = ", ".join(blockers[:EXAMPLES])
            more = f" and {len(blockers) - EXAMPLES} more" if len(blockers) > EXAMPLES else ""
            _say(f"  {name:<52} NOT VALID: {len(blockers)} {table} row(s) whose {column} is a "
                 f"{parent} row of another organization: {shown}{more}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        for table, column, _, _ in reversed(KEYS):
            _execute(connection,
                     f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {key_name(table, column)}")
        for table in reversed(PARENTS):
            _execute(connection, f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {unique_name(table)}")
            _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {unique_name(table)}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0009_template_identity_per_organization")]

    operations = [SameTenantKeys()]
