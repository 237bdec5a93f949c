"""Columns for the WhatsApp webhook, and the index it looks messages up by.

messages: the webhook's raw message object and the delivery status of messages we sent;
referrer_tracking: the click-to-WhatsApp ad or post and the wamid that carried it. All nullable
without a default, so adding them is instant on PostgreSQL; each is added where missing.

messages (organization_id, message_id): the webhook de-duplicates redeliveries and matches status
updates by it. Deliberately not unique: legacy databases may already hold duplicate message_ids
(the webhook serializes on an advisory lock instead). Built CONCURRENTLY, so writes go on.

Everything is decided from the catalog (atomic = False, one statement at a time): after a kill, a
re-run skips what exists and rebuilds an index a killed build left invalid.
"""
from __future__ import annotations

import os

from django.db import migrations, models

import crm.fields

LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")
INDEX = models.Index(fields=["organization", "message_id"], name="messages_org_message_id_idx")
INDEX_SQL = f"CREATE INDEX CONCURRENTLY {INDEX.name} ON messages (organization_id, message_id)"


class _LockTimeout:
    """Session-level lock_timeout around DDL: give up rather than queue every writer behind us."""

    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        with self.connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])

    def __exit__(self, *exc_info):
        with self.connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def _execute(connection, sql):
    with _LockTimeout(connection), connection.cursor() as cursor:
        cursor.execute(sql)


def _has_column(connection, table, column):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s "
            "AND attnum > 0 AND NOT attisdropped",
            [table, column],
        )
        return cursor.fetchone() is not None


def _index_validity(connection, name):
    """True (valid), False (left invalid by a killed concurrent build) or None (missing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND i.indrelid = to_regclass('messages')",
            [name],
        )
        row = cursor.fetchone()
    return row[0] if row else None


class AddFieldWhereMissing(migrations.AddField):
    """AddField; on PostgreSQL it skips a column already there and removes only one that is."""

    def _column(self, app_label, state):
        model = state.apps.get_model(app_label, self.model_name)
        return model._meta.db_table, model._meta.get_field(self.name).column

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        if _has_column(connection, *self._column(app_label, to_state)):
            return
        with _LockTimeout(connection):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        if not _has_column(connection, *self._column(app_label, from_state)):
            return
        with _LockTimeout(connection):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class EnsureMessageIndex(migrations.operations.base.Operation):
    """PostgreSQL: build the index concurrently unless a valid one exists; elsewhere AddIndex."""

    reversible = True

    def state_forwards(self, app_label, state):
        pass  # the state is SeparateDatabaseAndState's AddIndex

    def describe(self):
        return f"Create index {INDEX.name} on messages (organization_id, message_id)"

    def _plain(self):
        return migrations.AddIndex(model_name="message", index=INDEX)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            self._plain().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        valid = _index_validity(connection, INDEX.name)
        if valid:
            return
        if valid is False:
            _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
        _execute(connection, INDEX_SQL)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            self._plain().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        _execute(connection, f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")


def _nullable(model_name, name, field):
    return AddFieldWhereMissing(model_name=model_name, name=name, field=field)


def _varchar():
    return crm.fields.VarCharField(blank=True, null=True)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0005_api_tokens")]

    operations = [
        _nullable("message", "raw_message", models.JSONField(blank=True, null=True)),
        _nullable("message", "delivery_status", _varchar()),
        _nullable("message", "delivery_status_at", models.DateTimeField(blank=True, null=True)),
        _nullable("message", "error_code", models.IntegerField(blank=True, null=True)),
        _nullable("message", "error_title", _varchar()),
        _nullable("referrertracking", "source_url", _varchar()),
        _nullable("referrertracking", "source_id", _varchar()),
        _nullable("referrertracking", "source_type", _varchar()),
        _nullable("referrertracking", "headline", _varchar()),
        _nullable("referrertracking", "body", _varchar()),
        _nullable("referrertracking", "media_type", _varchar()),
        _nullable("referrertracking", "ctwa_clid", _varchar()),
        _nullable("referrertracking", "message_id", _varchar()),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="message", index=INDEX)],
            database_operations=[EnsureMessageIndex()],
        ),
    ]
