"""Template identity per organization, and the WhatsApp Business Account of each number.

wb-crm keyed `templates` by `template_name` alone, so two organizations could not both have
`hello_world`. Templates get a surrogate key `id` (uuid) and are unique per (organization,
template_name, language), and once among the shared rows (organization_id IS NULL); every legacy
row is kept with its organization, shared rows stay shared. New columns: templates.language,
category, status, whatsapp_business_account_id; whatsapp_numbers.whatsapp_business_account_id.

Legacy rows get a stable id derived from their old key (md5 of the name), so a rerun, or a
database migrated backwards and forwards again, gives each row the same id. Their language,
category and status come from Meta's template object wb-crm kept in template_body (language
`en_US` when it names none).

PostgreSQL: decided from the catalog (atomic = False, one statement at a time), so a run killed
anywhere and started again ends where an uninterrupted run ends. Columns are added nullable
(instant) and marked with a comment, so backwards drops only ours; the backfill runs in batches;
the unique indexes are built concurrently; the old key is swapped for the new one in one ALTER
TABLE. Backwards refuses, naming them, while two rows share a template_name (the old key could
not hold them). Elsewhere (SQLite for local runs) the equivalent plain operations run.
"""
from __future__ import annotations

import os
import sys
import uuid

from django.db import migrations, models

import crm.fields

LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")
BATCH_SIZE = int(os.environ.get("TENANCY_BACKFILL_BATCH_SIZE", "5000"))
MARKER = "added by crm: template identity per organization"
NEW_KEY_INDEX = "templates_id_new_pkey"
OLD_KEY_INDEX = "templates_name_old_pkey"
ORG_UNIQUE = "templates_org_name_language_uniq"
SHARED_UNIQUE = "templates_shared_name_language_uniq"

# (table, column, type) of every column this migration adds.
COLUMNS = [
    ("templates", "id", "uuid"),
    ("templates", "language", "varchar"),
    ("templates", "category", "varchar"),
    ("templates", "status", "varchar"),
    ("templates", "whatsapp_business_account_id", "varchar"),
    ("whatsapp_numbers", "whatsapp_business_account_id", "varchar"),
]


def _json_text(key):
    """SQL: template_body's `key` when it is a string."""
    return f"CASE WHEN jsonb_typeof(template_body -> '{key}') = 'string' " \
           f"THEN NULLIF(template_body ->> '{key}', '') END"


# One batch of rows not keyed yet; wb-crm stored the language as a code ("en_US") or as Meta's
# {"code": ...} object.
BACKFILL = f"""
UPDATE templates SET
    id = md5('crm.template:' || template_name)::uuid,
    language = COALESCE(language, {_json_text('language')},
                        NULLIF(template_body -> 'language' ->> 'code', ''), 'en_US'),
    category = COALESCE(category, {_json_text('category')}),
    status = COALESCE(status, {_json_text('status')})
WHERE ctid = ANY(ARRAY(SELECT ctid FROM templates WHERE id IS NULL LIMIT %s))
"""


def _say(message):
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _execute(connection, sql, params=()):
    """One statement (or one multi-statement transaction) under lock_timeout."""
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])
        try:
            cursor.execute(sql, params)
            return cursor.rowcount
        finally:
            cursor.execute("RESET lock_timeout")


def _fetch(connection, sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _column(connection, table, column):
    """(not null, comment) of the column, or None when it is missing."""
    rows = _fetch(
        connection,
        "SELECT attnotnull, col_description(attrelid, attnum) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attname = %s AND attnum > 0 AND NOT attisdropped",
        [table, column],
    )
    return rows[0] if rows else None


def _primary_key(connection):
    """(constraint name, columns) of the primary key of templates."""
    rows = _fetch(
        connection,
        "SELECT con.conname, ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY "
        "k(attnum, n) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
        "ORDER BY k.n)::text[] FROM pg_constraint con "
        "WHERE con.conrelid = to_regclass('templates') AND con.contype = 'p'",
    )
    return (rows[0][0], list(rows[0][1])) if rows else (None, [])


def _index_validity(connection, name):
    """True (valid), False (left invalid by a killed concurrent build) or None (missing)."""
    rows = _fetch(
        connection,
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s AND i.indrelid = to_regclass('templates')",
        [name],
    )
    return rows[0][0] if rows else None


def _ensure_unique_index(connection, name, definition):
    """Build `CREATE UNIQUE INDEX name ON templates definition` concurrently unless valid."""
    valid = _index_validity(connection, name)
    if valid:
        return
    if valid is False:
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    _execute(connection, f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON templates {definition}")


def _has_constraint(connection, name):
    return bool(_fetch(
        connection,
        "SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('templates') AND conname = %s",
        [name],
    ))


def _swap_key(connection, index):
    """Make the unique index `index` the primary key of templates, in one statement."""
    old, _ = _primary_key(connection)
    drop = f"DROP CONSTRAINT {old}, " if old else ""
    _execute(
        connection,
        f"ALTER TABLE templates {drop}ADD CONSTRAINT templates_pkey PRIMARY KEY USING INDEX {index}",
    )


def _forwards(connection):
    for table, column, kind in COLUMNS:
        if _column(connection, table, column) is None:
            _execute(
                connection,
                f"ALTER TABLE {table} ADD COLUMN {column} {kind}; "
                f"COMMENT ON COLUMN {table}.{column} IS %s",
                [MARKER],
            )
    keyed = 0
    while rows := _execute(connection, BACKFILL, [BATCH_SIZE]):
        keyed += rows
    _say(f"  templates: {keyed} legacy rows keyed by id")
    if not _column(connection, "templates", "language")[0]:
        _execute(connection, "ALTER TABLE templates ALTER COLUMN language SET NOT NULL")
    _ensure_unique_index(connection, ORG_UNIQUE, "(organization_id, template_name, language)")
    if not _has_constraint(connection, ORG_UNIQUE):
        _execute(connection, f"ALTER TABLE templates ADD CONSTRAINT {ORG_UNIQUE} "
                             f"UNIQUE USING INDEX {ORG_UNIQUE}")
    _ensure_unique_index(connection, SHARED_UNIQUE,
                         "(template_name, language) WHERE organization_id IS NULL")
    if _primary_key(connection)[1] != ["id"]:
        _ensure_unique_index(connection, NEW_KEY_INDEX, "(id)")
        _execute(connection, BACKFILL, [BATCH_SIZE])  # rows written meanwhile by wb-crm
        _swap_key(connection, NEW_KEY_INDEX)
    # Django's pattern index for the old varchar key (fresh databases only): nothing needs it.
    for (name,) in _fetch(
        connection,
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = to_regclass('templates') "
        "AND indexrelid::regclass::text LIKE 'templates_template_name_%%_like'",
    ):
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def _backwards(connection):
    if _primary_key(connection)[1] == ["id"]:
        clashes = _fetch(
            connection,
            "SELECT template_name FROM templates GROUP BY template_name HAVING count(*) > 1 "
            "ORDER BY 1 LIMIT 10",
        )
        if clashes:
            names = ", ".join(name for (name,) in clashes)
            raise RuntimeError(
                "Cannot go back to wb-crm's global template_name key: several templates are "
                f"named {names} (per organization or language). Delete or rename all but one of "
                "each, then migrate backwards again."
            )
        _ensure_unique_index(connection, OLD_KEY_INDEX, "(template_name)")
        _swap_key(connection, OLD_KEY_INDEX)
    if _has_constraint(connection, ORG_UNIQUE):
        _execute(connection, f"ALTER TABLE templates DROP CONSTRAINT {ORG_UNIQUE}")
    for name in (ORG_UNIQUE, SHARED_UNIQUE, NEW_KEY_INDEX):
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for table, column, _ in reversed(COLUMNS):
        found = _column(connection, table, column)
        if found and found[1] == MARKER:
            _execute(connection, f"ALTER TABLE {table} DROP COLUMN {column}")


def _varchar():
    return crm.fields.VarCharField(blank=True, null=True)


def _new_columns(id_field):
    return [
        migrations.AddField(model_name="template", name="id", field=id_field),
        migrations.AddField(model_name="template", name="language",
                            field=crm.fields.VarCharField(default="en_US")),
        migrations.AddField(model_name="template", name="category", field=_varchar()),
        migrations.AddField(model_name="template", name="status", field=_varchar()),
        migrations.AddField(model_name="template", name="whatsapp_business_account_id",
                            field=_varchar()),
        migrations.AddField(model_name="whatsappnumber", name="whatsapp_business_account_id",
                            field=_varchar()),
    ]


KEY = models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)
CONSTRAINTS = [
    migrations.AddConstraint(
        model_name="template",
        constraint=models.UniqueConstraint(
            fields=("organization", "template_name", "language"), name=ORG_UNIQUE
        ),
    ),
    migrations.AddConstraint(
        model_name="template",
        constraint=models.UniqueConstraint(
            condition=models.Q(("organization__isnull", True)),
            fields=("template_name", "language"), name=SHARED_UNIQUE,
        ),
    ),
]
STATE_OPERATIONS = [
    migrations.AlterModelOptions(
        name="template", options={"ordering": ["template_name", "language"]}
    ),
    *_new_columns(KEY),
    migrations.AlterField(model_name="template", name="template_name",
                          field=crm.fields.VarCharField()),
    *CONSTRAINTS,
]
# SQLite: the key is added empty, filled with random ids (Django would give every existing row
# the same default), then made the primary key; Django rebuilds the table for each step.
SQLITE_FILL = (
    "UPDATE templates SET id = lower(hex(randomblob(16))), "
    "language = COALESCE(json_extract(template_body, '$.language.code'), CASE WHEN "
    "json_type(template_body, '$.language') = 'text' THEN json_extract(template_body, "
    "'$.language') END, 'en_US'), "
    "category = json_extract(template_body, '$.category'), "
    "status = json_extract(template_body, '$.status') WHERE id IS NULL"
)
PLAIN_OPERATIONS = [
    *_new_columns(models.UUIDField(null=True)),
    migrations.RunSQL(SQLITE_FILL, migrations.RunSQL.noop),
    migrations.AlterField(model_name="template", name="id", field=KEY),
    migrations.AlterField(model_name="template", name="template_name",
                          field=crm.fields.VarCharField()),
    *CONSTRAINTS,
]


class TemplateIdentity(migrations.operations.base.Operation):
    """PostgreSQL: the catalog-driven steps above; elsewhere the plain operations."""

    reversible = True

    def state_forwards(self, app_label, state):
        pass  # the state is SeparateDatabaseAndState's STATE_OPERATIONS

    def describe(self):
        return "Key templates by (organization, name, language); numbers carry their WABA id"

    def _plain_states(self, app_label, state):
        """(operation, state before, state after) of each plain operation, from `state`."""
        steps = []
        for operation in PLAIN_OPERATIONS:
            after = state.clone()
            operation.state_forwards(app_label, after)
            steps.append((operation, state, after))
            state = after
        return steps

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            _forwards(schema_editor.connection)
            return
        for operation, before, after in self._plain_states(app_label, from_state):
            operation.database_forwards(app_label, schema_editor, before, after)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            _backwards(schema_editor.connection)
            return
        for operation, before, after in reversed(self._plain_states(app_label, to_state)):
            operation.database_backwards(app_label, schema_editor, after, before)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0008_customer_marketing_opt_out")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=STATE_OPERATIONS,
            database_operations=[TemplateIdentity()],
        ),
    ]
