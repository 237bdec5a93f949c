"""The agent inbox: per-customer activity columns, the read marker, and the list's indexes.

New columns: customers.last_inbound_at (the customer's latest message: the 24-hour window and
"waiting for reply"), customers.business_number (digits of the number it last wrote to),
customers.last_read_at (the team's read marker) and organizations.agents_see_all. Existing
customers are back-filled from their messages in batches of customers, set-based; their
conversations start read (a taken-over database does not show its whole history as unread).
Search's trigram indexes need pg_trgm and btree_gin: without them (`tenancy_roles` creates them)
the migration stops first, with what to run, rather than build an inbox whose search scans.
The list's indexes (and the unread counts' partial index on messages) are built like 0007's: concurrently on PostgreSQL, resumable after a kill.
"""
from __future__ import annotations

import importlib
import os

import crm.fields
from django.core.management.base import CommandError
from django.db import DatabaseError, migrations, models

BATCH = int(os.environ.get("INBOX_BACKFILL_BATCH", "5000"))
# 0007's resumable concurrent index build (a migration module, not live app code).
EnsureIndex = importlib.import_module("crm.migrations.0007_tenant_list_indexes").EnsureIndex

# One batch: the next BATCH customers after %s by id. Each customer's latest inbound message
# gives last_inbound_at and business_number; the read marker starts at the last activity.
BACKFILL = """
UPDATE customers SET
    last_inbound_at = (
        SELECT max(m.timestamp) FROM messages m
        WHERE m.customer_id = customers.id AND m.organization_id = customers.organization_id
          AND m.sender_type = 'customer'),
    business_number = (
        SELECT m.to_wa_id FROM messages m
        WHERE m.customer_id = customers.id AND m.organization_id = customers.organization_id
          AND m.sender_type = 'customer'
        ORDER BY m.timestamp DESC LIMIT 1),
    last_read_at = last_message_at
WHERE id IN (SELECT id FROM customers WHERE id > %s ORDER BY id LIMIT %s)
"""
LAST_OF_BATCH = "SELECT id FROM customers WHERE id > %s ORDER BY id LIMIT 1 OFFSET %s"


# Search by name, phone or WhatsApp id (`icontains`, which Django writes as UPPER(col) LIKE
# UPPER('%term%')): trigram GIN indexes led by organization_id. PostgreSQL only, and kept out of
# the model state (Django cannot express them portably).
SEARCH_INDEXES = {
    "customers_org_name_trgm_idx": "name",
    "customers_org_wa_id_trgm_idx": "wa_id",
    "customers_org_phone_trgm_idx": "phone_1",
}
# The extensions they need. `tenancy_roles` (a superuser) creates them; an owner may create them
# itself only where it may create in the database (both are trusted extensions).
SEARCH_EXTENSIONS = ("pg_trgm", "btree_gin")


def require_search_extensions(apps, schema_editor) -> None:
    """Create the extensions, or stop the migration, before anything else changed: an inbox
    without its indexes scans every customer of the organization on each search."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:  # DDL the ORM cannot express
        for extension in SEARCH_EXTENSIONS:
            try:
                cursor.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
            except DatabaseError as error:
                raise CommandError(
                    f"The inbox's search indexes need the PostgreSQL extension {extension}, "
                    f"which {connection.settings_dict['USER']} may not create "
                    f"({str(error).splitlines()[0]}). "
                    "Run `manage.py tenancy_roles --owner OWNER --app APP` as a superuser "
                    "(it creates the extensions), then migrate again."
                ) from error


def search_indexes(apps, schema_editor) -> None:
    """Create the search indexes concurrently; an invalid one left by a killed run is rebuilt."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:  # DDL the ORM cannot express
        for name, column in SEARCH_INDEXES.items():
            cursor.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
                           "ON c.oid = i.indexrelid WHERE c.relname = %s", [name])
            row = cursor.fetchone()
            if row and row[0]:
                continue
            if row:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(f"CREATE INDEX CONCURRENTLY {name} ON customers USING gin "
                           f"(organization_id, upper({column}::text) gin_trgm_ops)")


def drop_search_indexes(apps, schema_editor) -> None:
    """Undo search_indexes (the extensions stay: other code may use them)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:  # DDL the ORM cannot express
        for name in SEARCH_INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def backfill(apps, schema_editor) -> None:
    """Fill the new customer columns batch by batch (each batch its own statement)."""
    connection = schema_editor.connection
    # Below every UUID, in PostgreSQL's uuid order and SQLite's text order alike.
    after = "00000000-0000-0000-0000-000000000000"
    if connection.vendor == "sqlite":
        after = after.replace("-", "")
    with connection.cursor() as cursor:  # set-based SQL: the migration's own tables, no ORM
        while True:
            cursor.execute(LAST_OF_BATCH, [after, BATCH - 1])
            row = cursor.fetchone()
            cursor.execute(BACKFILL, [after, BATCH])
            if row is None:
                return
            after = row[0]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0012_number_verification")]

    operations = [
        # First: when it fails, nothing has changed and the same migrate runs again once fixed.
        migrations.RunPython(require_search_extensions, migrations.RunPython.noop),
        migrations.AddField(
            model_name="customer",
            name="business_number",
            field=crm.fields.VarCharField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="customer",
            name="last_inbound_at",
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="customer",
            name="last_read_at",
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="organization",
            name="agents_see_all",
            field=models.BooleanField(
                default=True,
                help_text="Agents see every conversation; off: only those assigned to them.",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        EnsureIndex(
            model_name="customer",
            index=models.Index(fields=["organization", "-last_message_at", "-id"],
                               name="customers_org_activity_idx"),
        ),
        EnsureIndex(
            model_name="customer",
            index=models.Index(fields=["organization", "user", "-last_message_at", "-id"],
                               name="customers_org_user_act_idx"),
        ),
        EnsureIndex(
            model_name="message",
            index=models.Index(fields=["organization", "customer", "timestamp"],
                               condition=models.Q(sender_type="customer"),
                               name="messages_org_customer_in_idx"),
        ),
        migrations.RunPython(search_indexes, drop_search_indexes),
    ]
