"""Guided flows: the tenant tables flows and flow_sessions (row-level security, same-tenant keys;
at most one active session per customer, a partial unique index).

The new tables are empty, so their keys are added and validated at once; the app role's grants
on them come from the default privileges `tenancy_roles` set for the owner.
"""
import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity

# Same-tenant keys, as crm.0022: the parent's unique (organization_id, id), and (child, column,
# parent) keys; organization_id is NOT NULL from the start.
PARENTS = ["flows"]
KEYS = [
    ("flow_sessions", "flow_id", "flows"),
    ("flow_sessions", "customer_id", "customers"),
    ("flow_sessions", "rule_id", "automation_rules"),
]
NEW_TABLES = ["flows", "flow_sessions"]
SAME_TENANT_KEYS = [
    *(f"ALTER TABLE {table} ALTER COLUMN organization_id SET NOT NULL" for table in NEW_TABLES),
    *(f"ALTER TABLE {table} ADD CONSTRAINT {table}_org_id_uniq UNIQUE (organization_id, id)"
      for table in PARENTS),
    *(f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_same_org_fk FOREIGN KEY "
      f"(organization_id, {column}) REFERENCES {parent} (organization_id, id) "
      "DEFERRABLE INITIALLY DEFERRED" for table, column, parent in KEYS),
]
DROP_SAME_TENANT_KEYS = [
    *(f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_same_org_fk"
      for table, column, _ in KEYS),
    *(f"ALTER TABLE {table} DROP CONSTRAINT {table}_org_id_uniq" for table in PARENTS),
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
        ('crm', '0023_automation_schedules'),
    ]

    operations = [
        migrations.CreateModel(
            name='Flow',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=200)),
                ('is_active', models.BooleanField(default=True)),
                ('steps', models.JSONField(help_text='A list of steps, such as [{"id": "city", "message": {...}, "expect": "text", "answer": "city", "next": "done"}, {"id": "done", "message": {...}, "actions": [{"type": "create_lead"}]}].')),
                ('expire_minutes', models.PositiveIntegerField(default=30, help_text='A session the customer leaves idle this long ends.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'flows',
                'ordering': ['name', 'id'],
            },
        ),
        migrations.CreateModel(
            name='FlowSession',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('step', models.CharField(max_length=100)),
                ('answers', models.JSONField(blank=True, default=dict)),
                ('state', models.CharField(choices=[('active', 'Active'), ('completed', 'Completed'), ('expired', 'Expired'), ('stopped', 'Stopped')], default='active', max_length=20)),
                ('expires_at', models.DateTimeField()),
                ('handled_message_id', models.BigIntegerField(blank=True, null=True)),
                ('error', models.TextField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.customer')),
                ('flow', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='sessions', to='crm.flow')),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
                ('rule', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.automationrule')),
            ],
            options={
                'db_table': 'flow_sessions',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddIndex(
            model_name='flow',
            index=models.Index(fields=['organization', 'name'], name='flows_org_name_idx'),
        ),
        migrations.AddIndex(
            model_name='flowsession',
            index=models.Index(fields=['organization', 'flow'], name='flow_sessions_flow_idx'),
        ),
        migrations.AddIndex(
            model_name='flowsession',
            index=models.Index(fields=['organization', 'customer', '-created_at'], name='flow_sessions_customer_idx'),
        ),
        migrations.AddIndex(
            model_name='flowsession',
            index=models.Index(fields=['organization', 'rule'], name='flow_sessions_rule_idx'),
        ),
        migrations.AddConstraint(
            model_name='flowsession',
            constraint=models.UniqueConstraint(condition=models.Q(('state', 'active')), fields=('organization', 'customer'), name='flow_sessions_one_active'),
        ),
        EnableRowLevelSecurity("flows", version=2),
        EnableRowLevelSecurity("flow_sessions", version=2),
        migrations.RunPython(_run_on_postgresql(SAME_TENANT_KEYS),
                             _run_on_postgresql(DROP_SAME_TENANT_KEYS)),
    ]
