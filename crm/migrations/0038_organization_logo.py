"""Organizations' logos (a nullable column: instant on PostgreSQL whatever the table's size), and
exports' "expired" state (a choice only: no change in the database). No new table, so no
row-level security to enable.
"""
from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("crm", "0037_catalog_per_organization")]

    operations = [
        migrations.AddField(
            model_name="organization", name="logo",
            field=models.CharField(blank=True, editable=False, max_length=255, null=True)),
        migrations.AlterField(
            model_name="organizationexport", name="state",
            field=models.CharField(
                choices=[("queued", "Queued"), ("running", "Running"), ("done", "Done"),
                         ("failed", "Failed"), ("expired", "Expired")],
                default="queued", max_length=20)),
    ]
