"""Organization exports: the tenant table organization_exports (row-level security, NOT NULL
organization), which tracks each zip of an organization's data (crm.lifecycle).

The new table is empty and points at no other table, so KEYS is empty.
"""

import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity

PARENTS: list[str] = []
KEYS: list[tuple[str, str, str]] = []
NEW_TABLES = ["organization_exports"]
NOT_NULL = [f"ALTER TABLE {table} ALTER COLUMN organization_id SET NOT NULL"
            for table in NEW_TABLES]
NULLABLE = [f"ALTER TABLE {table} ALTER COLUMN organization_id DROP NOT NULL"
            for table in NEW_TABLES]


def _run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0034_accounts'),
    ]

    operations = [
        migrations.CreateModel(
            name='OrganizationExport',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('state', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=20)),
                ('error', models.TextField(blank=True, null=True)),
                ('file_name', models.CharField(blank=True, default='', max_length=255)),
                ('size', models.BigIntegerField(default=0, help_text='Bytes of the zip.')),
                ('requested_by_id', models.UUIDField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'organization_exports',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['organization', '-created_at'], name='organization_exports_org_idx')],
            },
        ),
        EnableRowLevelSecurity("organization_exports", version=2),
        migrations.RunPython(_run_on_postgresql(NOT_NULL), _run_on_postgresql(NULLABLE)),
    ]
