"""Delayed automation triggers: the tenant table automation_schedules (row-level security,
same-tenant keys), due items that beat fires or cancels.

The table is new and empty, so its keys are added and validated at once, as in crm.0022.
"""
import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity, LockTablesFirst

KEYS = [
    ("automation_schedules", "rule_id", "automation_rules"),
    ("automation_schedules", "customer_id", "customers"),
]
SAME_TENANT_KEYS = [
    "ALTER TABLE automation_schedules ALTER COLUMN organization_id SET NOT NULL",
    *(f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_same_org_fk FOREIGN KEY "
      f"(organization_id, {column}) REFERENCES {parent} (organization_id, id) "
      "DEFERRABLE INITIALLY DEFERRED" for table, column, parent in KEYS),
]
DROP_SAME_TENANT_KEYS = [
    *(f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_same_org_fk"
      for table, column, _ in KEYS),
    "ALTER TABLE automation_schedules ALTER COLUMN organization_id DROP NOT NULL",
]


def _run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0022_automation'),
    ]

    operations = [
        # wb-crm may still be writing these (a takeover): all locks at once, no deadlock.
        LockTablesFirst("customers", "messages"),
        migrations.CreateModel(
            name='AutomationSchedule',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('due_at', models.DateTimeField()),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('fired', 'Fired'), ('cancelled', 'Cancelled')], default='pending', max_length=20)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.customer')),
                ('message', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.message')),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
                ('rule', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='schedules', to='crm.automationrule')),
            ],
            options={
                'db_table': 'automation_schedules',
                'ordering': ['due_at', 'id'],
                'indexes': [models.Index(fields=['organization', 'customer', 'state'], name='automation_sched_customer_idx'), models.Index(fields=['organization', 'message'], name='automation_sched_message_idx'), models.Index(condition=models.Q(('state', 'pending')), fields=['due_at'], name='automation_sched_due_idx')],
                'constraints': [models.UniqueConstraint(fields=('organization', 'rule', 'message'), name='automation_schedules_once_per_message')],
            },
        ),
        EnableRowLevelSecurity("automation_schedules", version=2),
        migrations.RunPython(_run_on_postgresql(SAME_TENANT_KEYS),
                             _run_on_postgresql(DROP_SAME_TENANT_KEYS)),
    ]
