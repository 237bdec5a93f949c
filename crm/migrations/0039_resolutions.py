"""Conversations' resolutions: the tenant table conversation_resolutions (row-level security,
NOT NULL organization, a same-tenant key to customers), one row per conversation set resolved,
which the dashboard's resolution times read (crm.reports.queries).

Status changes were not kept before, so the table starts empty: resolution times count from
this migration on. The key to users is a plain one (platform staff act in any organization).
"""
import crm.fields
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity, LockTablesFirst

PARENTS: list[str] = []
KEYS = [("conversation_resolutions", "customer_id", "customers")]
NEW_TABLES = ["conversation_resolutions"]
SAME_TENANT_KEYS = [
    *(f"ALTER TABLE {table} ALTER COLUMN organization_id SET NOT NULL" for table in NEW_TABLES),
    *(f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_same_org_fk FOREIGN KEY "
      f"(organization_id, {column}) REFERENCES {parent} (organization_id, id) "
      "DEFERRABLE INITIALLY DEFERRED" for table, column, parent in KEYS),
]
DROP_SAME_TENANT_KEYS = [
    *(f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_same_org_fk"
      for table, column, _ in KEYS),
    *(f"ALTER TABLE {table} ALTER COLUMN organization_id DROP NOT NULL" for table in NEW_TABLES),
]


def _run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0038_organization_logo'),
    ]

    operations = [
        # The new table's keys lock wb-crm's customers and users: at once (see LockTablesFirst).
        LockTablesFirst("customers", "users"),
        migrations.CreateModel(
            name='ConversationResolution',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('opened_at', crm.fields.UTCDateTimeField(help_text='The first customer message since the previous resolution.')),
                ('resolved_at', crm.fields.UTCDateTimeField()),
                ('seconds', models.IntegerField()),
                ('agent', models.ForeignKey(blank=True, db_index=False, help_text="The conversation's assignee when it was resolved.", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.customer')),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'conversation_resolutions',
                'ordering': ['-resolved_at'],
                'indexes': [models.Index(fields=['organization', 'resolved_at'], include=('agent', 'seconds'), name='resolutions_org_at_idx'), models.Index(fields=['organization', 'customer', '-resolved_at'], name='resolutions_customer_idx')],
            },
        ),
        EnableRowLevelSecurity("conversation_resolutions", version=2),
        migrations.RunPython(_run_on_postgresql(SAME_TENANT_KEYS),
                             _run_on_postgresql(DROP_SAME_TENANT_KEYS)),
    ]
