"""Every kind of delivery: group conversations, edits and deletions, status error details.

Nullable columns and one constant default: adding them is instant on PostgreSQL, whatever the
table's size. No new table, so no row-level security to enable.
"""
from __future__ import annotations

from django.db import migrations, models

import crm.fields
from tenancy.operations import LockTablesFirst


class Migration(migrations.Migration):

    dependencies = [("crm", "0039_resolutions")]

    operations = [
        # Columns on two of wb-crm's tables: both locked at once (see LockTablesFirst).
        LockTablesFirst("customers", "messages"),
        migrations.AddField(model_name="customer", name="is_group", field=models.BooleanField(
            db_default=False, default=False, editable=False)),
        migrations.AddField(model_name="message", name="group_id", field=crm.fields.VarCharField(
            blank=True, editable=False, null=True)),
        migrations.AddField(model_name="message", name="error_details",
                            field=crm.fields.VarCharField(blank=True, editable=False, null=True)),
        migrations.AddField(model_name="message", name="edited_at", field=models.DateTimeField(
            blank=True, editable=False, null=True)),
        migrations.AddField(model_name="message", name="edit_history", field=models.JSONField(
            blank=True, editable=False, null=True)),
        migrations.AddField(model_name="message", name="deleted_at", field=models.DateTimeField(
            blank=True, editable=False, null=True)),
    ]
