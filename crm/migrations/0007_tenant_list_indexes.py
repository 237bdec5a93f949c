"""Indexes that lead with organization_id and serve each tenant's default list orderings.

Without them a list page of one organization sorts all of its rows (messages by timestamp) or
walks another ordering's index past every other organization's rows (customers by created_at).
Built CONCURRENTLY where missing (writes go on); an index left invalid by a killed build is
rebuilt. Decided from the catalog, so a re-run after a kill ends like an uninterrupted run.
"""
from __future__ import annotations

import os

from django.db import migrations, models

LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")

INDEXES = [
    ("message", models.Index(fields=["organization", "-timestamp", "-id"],
                             name="messages_org_timestamp_idx")),
    ("message", models.Index(fields=["organization", "customer", "-timestamp"],
                             name="messages_org_customer_ts_idx")),
    ("customer", models.Index(fields=["organization", "-created_at"],
                              name="customers_org_created_idx")),
    ("order", models.Index(fields=["organization", "-timestamp"], name="orders_org_timestamp_idx")),
    ("campaignlog", models.Index(fields=["organization", "-created_at"],
                                 name="campaign_logs_org_created_idx")),
    ("whatsappapilog", models.Index(fields=["organization", "-created_at"],
                                    name="wa_api_logs_org_created_idx")),
    ("flowlog", models.Index(fields=["organization", "-created_at"],
                             name="flow_logs_org_created_idx")),
]


class EnsureIndex(migrations.AddIndex):
    """AddIndex; on PostgreSQL concurrently, and only where no valid index of that name exists."""

    def _validity(self, connection):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s", [self.index.name],
            )
            row = cursor.fetchone()
        return row[0] if row else None

    def _drop(self, connection):
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self.index.name}")
            cursor.execute("RESET lock_timeout")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        valid = self._validity(connection)
        if valid:
            return
        if valid is False:
            self._drop(connection)
        model = to_state.apps.get_model(app_label, self.model_name)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])
        schema_editor.add_index(model, self.index, concurrently=True)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        self._drop(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0006_webhook_columns")]

    operations = [EnsureIndex(model_name=model, index=index) for model, index in INDEXES]
