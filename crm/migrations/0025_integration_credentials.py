"""Integration credentials: the tenant table integration_credentials (one row per organization
and provider; secrets encrypted by the app), with row-level security and NOT NULL organization_id.

The table is new and empty; it points at no other tenant table, so it has no same-tenant keys.
"""
import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity

# As crm.0022: organization_id NOT NULL from the start (PostgreSQL only).
PARENTS: list[str] = []
KEYS: list[tuple[str, str, str]] = []
NEW_TABLES = ["integration_credentials"]
SAME_TENANT_KEYS = [f"ALTER TABLE {table} ALTER COLUMN organization_id SET NOT NULL"
                    for table in NEW_TABLES]
DROP_SAME_TENANT_KEYS = [f"ALTER TABLE {table} ALTER COLUMN organization_id DROP NOT NULL"
                         for table in NEW_TABLES]


def _run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0024_flows'),
    ]

    operations = [
        migrations.CreateModel(
            name='IntegrationCredential',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('provider', models.CharField(max_length=40)),
                ('config', models.JSONField(blank=True, default=dict)),
                ('secrets', models.TextField(blank=True, default='', editable=False)),
                ('status', models.CharField(choices=[('untested', 'Untested'), ('ok', 'Ok'), ('broken', 'Broken')], default='untested', max_length=20)),
                ('status_reason', models.TextField(blank=True, default='')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'integration_credentials',
                'ordering': ['provider'],
                'constraints': [models.UniqueConstraint(fields=('organization', 'provider'), name='integration_credentials_org_provider_uniq')],
            },
        ),
        EnableRowLevelSecurity("integration_credentials", version=2),
        migrations.RunPython(_run_on_postgresql(SAME_TENANT_KEYS),
                             _run_on_postgresql(DROP_SAME_TENANT_KEYS)),
    ]
