"""Meta's ids are digits, and a number is one organization's only once verified.

whatsapp_numbers.phone_number_id and whatsapp_business_account_id become Graph API URL paths
called with the number's token, so both must be digits: a CHECK constraint each (NULL account
allowed). phone_number_id was unique across organizations, so adding another organization's id
answered 409 (telling an organization that another holds it) and let whoever typed it first
squat it. Now it is unique per organization, and unique across organizations only among
verified rows (the one the webhook routes to): proof with Meta decides, not being first.
number_flow_configs' phone_number_id and display_digits become unique per organization too.

Legacy rows whose ids are not digits (wb-crm never checked them) are kept: a takeover must not
lose rows, and deleting or rewriting a number would stop its organization's traffic or invent an
id. The checks are added NOT VALID, so every new or updated row must satisfy them and existing
rows stay as they are; the migration prints the keys of the rows that do not, and validates the
checks itself when none is left (VALIDATE CONSTRAINT does not block writes). After fixing the
printed rows (set Meta's id in the admin), run
`ALTER TABLE whatsapp_numbers VALIDATE CONSTRAINT <name>` or this migration's rerun.

PostgreSQL: decided from the catalog (atomic = False, one statement at a time, each unique index
built concurrently before the platform-wide one it replaces is dropped), so uniqueness never
lapses and a run killed anywhere is re-run to the same end. Elsewhere (SQLite, the demo): the
plain operations, after clearing account ids that are not digits (the old demo's `demo-waba-*`,
which seed_demo sets again); SQLite cannot add a check that existing rows break.
"""
from __future__ import annotations

import os
import sys

from django.core.validators import RegexValidator
from django.db import migrations, models

import crm.fields

LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")
DIGITS = "^[0-9]+$"

# (table, unique index name, columns, partial condition)
UNIQUES = [
    ("whatsapp_numbers", "whatsapp_numbers_org_phone_number_id_uniq",
     "organization_id, phone_number_id", None),
    ("whatsapp_numbers", "whatsapp_numbers_verified_phone_number_id_uniq", "phone_number_id",
     "verification_status = 'verified'"),
    ("number_flow_configs", "number_flow_configs_org_phone_number_id_uniq",
     "organization_id, phone_number_id", None),
    ("number_flow_configs", "number_flow_configs_org_display_digits_uniq",
     "organization_id, display_digits", None),
]
# The platform-wide uniques they replace: (table, column).
PLATFORM_WIDE = [
    ("whatsapp_numbers", "phone_number_id"),
    ("number_flow_configs", "phone_number_id"),
    ("number_flow_configs", "display_digits"),
]
# (table, check name, condition)
CHECKS = [
    ("whatsapp_numbers", "whatsapp_numbers_phone_number_id_digits",
     f"phone_number_id ~ '{DIGITS}'"),
    ("whatsapp_numbers", "whatsapp_numbers_waba_id_digits",
     f"whatsapp_business_account_id IS NULL OR whatsapp_business_account_id ~ '{DIGITS}'"),
]


def _execute(connection, sql):
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])
        cursor.execute(sql)
        cursor.execute("RESET lock_timeout")


def _fetch(connection, sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _unique_indexes(connection, table):
    """{name: (valid, partial, columns, backing constraint or None)} of `table`'s uniques."""
    rows = _fetch(
        connection,
        "SELECT c.relname, i.indisvalid, i.indpred IS NOT NULL, "
        "ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n) "
        "      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "      ORDER BY k.n)::text[], con.conname "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'u' "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND NOT i.indisprimary",
        [table],
    )
    return {name: (valid, partial, list(cols), con) for name, valid, partial, cols, con in rows}


def _checks(connection, table):
    """{name: validated} of `table`'s check constraints."""
    return dict(_fetch(
        connection,
        "SELECT conname, convalidated FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype = 'c'",
        [table],
    ))


def _add_unique(connection, table, name, columns, condition):
    found = _unique_indexes(connection, table).get(name)
    if found and not found[0]:  # left invalid by a killed concurrent build
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        found = None
    if found is None:
        where = f" WHERE {condition}" if condition else ""
        _execute(connection,
                 f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({columns}){where}")
        found = _unique_indexes(connection, table)[name]
    if condition is None and found[3] is None:  # Django's plain unique is a constraint
        _execute(connection, f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}")


def _drop_unique(connection, table, name, constraint):
    if constraint:
        _execute(connection, f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
    else:
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def _add_check(connection, table, name, condition):
    if name not in _checks(connection, table):
        _execute(connection, f"ALTER TABLE {table} ADD CONSTRAINT {name} "
                             f"CHECK ({condition}) NOT VALID")
    if _checks(connection, table)[name]:
        return
    # The migrating owner reads every organization's rows: a report of legacy ids, no content.
    keys = [str(key) for (key,) in _fetch(
        connection, f"SELECT id FROM {table} WHERE NOT ({condition}) ORDER BY id")]
    if keys:
        sys.stdout.write(
            f"\n  {table}: {len(keys)} row(s) break {name} (Meta's ids are digits), kept and "
            f"not validated: {', '.join(keys[:20])}{' ...' if len(keys) > 20 else ''}. Set "
            f"Meta's ids on them, then run: ALTER TABLE {table} VALIDATE CONSTRAINT {name}\n")
        sys.stdout.flush()
    else:
        _execute(connection, f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


class NumberIdsPerOrganization(migrations.operations.base.Operation):
    """PostgreSQL: catalog-driven, online; elsewhere the plain state operations."""

    reversible = True

    def __init__(self, state_operations):
        self.state_operations = state_operations

    def state_forwards(self, app_label, state):
        pass

    def describe(self):
        return "Meta's ids digits only; WhatsApp number ids unique per organization"

    def _plain(self):
        return migrations.SeparateDatabaseAndState(database_operations=self.state_operations)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("UPDATE whatsapp_numbers SET whatsapp_business_account_id = NULL "
                               "WHERE whatsapp_business_account_id GLOB '*[^0-9]*' "
                               "OR whatsapp_business_account_id = ''")
            self._plain().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        for table, name, columns, condition in UNIQUES:
            _add_unique(connection, table, name, columns, condition)
        # Only once every replacement exists: the platform-wide uniques go.
        for table, column in PLATFORM_WIDE:
            for name, (_, partial, columns, constraint) in _unique_indexes(
                connection, table
            ).items():
                if not partial and columns == [column]:
                    _drop_unique(connection, table, name, constraint)
        for table, name, condition in CHECKS:
            _add_check(connection, table, name, condition)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            self._plain().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        for table, name, _ in CHECKS:
            _execute(connection, f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
        for table, column in PLATFORM_WIDE:  # as wb-crm had them (crm.0003 restores alike)
            name = f"ix_{table}_{column}"
            found = _unique_indexes(connection, table).get(name)
            if found and not found[0]:
                _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            if not found or not found[0]:
                _execute(connection, f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} "
                                     f"({column})")
        for table, name, _, _ in UNIQUES:
            found = _unique_indexes(connection, table).get(name)
            if found:
                _drop_unique(connection, table, name, found[3])


META_ID = RegexValidator(
    "\\A[0-9]+\\Z", "Meta's ids are digits only: copy it from WhatsApp Manager (API Setup)."
)

STATE_OPERATIONS = [
    migrations.AlterField(
        model_name="numberflowconfig", name="display_digits",
        field=models.CharField(blank=True, max_length=20, null=True),
    ),
    migrations.AlterField(
        model_name="numberflowconfig", name="phone_number",
        field=models.CharField(db_column="phone_number_id", max_length=100),
    ),
    migrations.AlterField(
        model_name="whatsappnumber", name="phone_number_id",
        field=models.CharField(max_length=100, validators=[META_ID]),
    ),
    migrations.AlterField(
        model_name="whatsappnumber", name="whatsapp_business_account_id",
        field=crm.fields.VarCharField(blank=True, null=True, validators=[META_ID]),
    ),
    migrations.AddConstraint(
        model_name="numberflowconfig",
        constraint=models.UniqueConstraint(
            fields=("organization", "phone_number"),
            name="number_flow_configs_org_phone_number_id_uniq",
        ),
    ),
    migrations.AddConstraint(
        model_name="numberflowconfig",
        constraint=models.UniqueConstraint(
            fields=("organization", "display_digits"),
            name="number_flow_configs_org_display_digits_uniq",
        ),
    ),
    migrations.AddConstraint(
        model_name="whatsappnumber",
        constraint=models.UniqueConstraint(
            fields=("organization", "phone_number_id"),
            name="whatsapp_numbers_org_phone_number_id_uniq",
        ),
    ),
    migrations.AddConstraint(
        model_name="whatsappnumber",
        constraint=models.UniqueConstraint(
            condition=models.Q(("verification_status", "verified")),
            fields=("phone_number_id",), name="whatsapp_numbers_verified_phone_number_id_uniq",
        ),
    ),
    migrations.AddConstraint(
        model_name="whatsappnumber",
        constraint=models.CheckConstraint(
            condition=models.Q(("phone_number_id__regex", DIGITS)),
            name="whatsapp_numbers_phone_number_id_digits",
        ),
    ),
    migrations.AddConstraint(
        model_name="whatsappnumber",
        constraint=models.CheckConstraint(
            condition=models.Q(("whatsapp_business_account_id__isnull", True),
                               ("whatsapp_business_account_id__regex", DIGITS),
                               _connector="OR"),
            name="whatsapp_numbers_waba_id_digits",
        ),
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0018_inbox_search_function")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=STATE_OPERATIONS,
            database_operations=[NumberIdsPerOrganization(STATE_OPERATIONS)],
        ),
    ]
