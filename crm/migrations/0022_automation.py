"""Automation: organizations' time zone, business hours and agent-reply grace; the tenant tables
automation_rules and automation_runs (row-level security, same-tenant keys); customers'
automation pause; messages' automation_rule_id (what the bot sent).

Every new column is nullable or has a constant default: instant on PostgreSQL 11+. The new
tables are empty, so their keys are added and validated at once; the app role's grants on them
come from the default privileges `tenancy_roles` set for the owner.
"""
import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity, LockTablesFirst

# Same-tenant keys, as crm.0011 (PostgreSQL only; deferred, checked at COMMIT): the parent's
# unique (organization_id, id), and (child, column, parent) keys. The new tables' rows always
# have an organization: organization_id is NOT NULL from the start (tenancy_enforce's end state).
PARENTS = ["automation_rules"]
KEYS = [
    ("automation_runs", "rule_id", "automation_rules"),
    ("automation_runs", "customer_id", "customers"),
]
NEW_TABLES = ["automation_rules", "automation_runs"]
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
        ('crm', '0021_pinned_search_paths'),
    ]

    operations = [
        # wb-crm may still be writing these (a takeover): all locks at once, no deadlock.
        LockTablesFirst("organizations", "customers", "messages"),
        migrations.AddField(
            model_name='customer',
            name='automation_paused_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='organization',
            name='agent_reply_grace_minutes',
            field=models.PositiveIntegerField(default=30, help_text='A conversation an agent answered within these minutes is left to the agent: automation does not answer it.'),
        ),
        migrations.AddField(
            model_name='organization',
            name='business_hours',
            field=models.JSONField(blank=True, default=dict, help_text='Per weekday "mon".."sun" a list of ["HH:MM", "HH:MM"] intervals, [] when closed; {} (not set): always open.'),
        ),
        migrations.AddField(
            model_name='organization',
            name='time_zone',
            field=models.CharField(default='Asia/Kolkata', help_text='IANA name, such as Asia/Kolkata.', max_length=64),
        ),
        migrations.CreateModel(
            name='AutomationRule',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=200)),
                ('is_active', models.BooleanField(default=True)),
                ('priority', models.IntegerField(default=100, help_text='Lower runs first.')),
                ('stop_processing', models.BooleanField(default=False, help_text='When this rule fires, the rules after it do not run.')),
                ('trigger', models.JSONField(help_text='For example {"type": "first_message"}.')),
                ('conditions', models.JSONField(blank=True, default=dict, help_text='For example {"numbers": [], "hours": "any"}.')),
                ('actions', models.JSONField(help_text='For example [{"type": "send", "message": {"type": "text", "text": {"body": "Hi {{name}}"}}}].')),
                ('round_robin_after', models.UUIDField(blank=True, editable=False, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'automation_rules',
                'ordering': ['priority', 'created_at', 'id'],
            },
        ),
        migrations.AddField(
            model_name='message',
            name='automation_rule',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.automationrule'),
        ),
        migrations.CreateModel(
            name='AutomationRun',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('outcome', models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('refused', 'Refused'), ('failed', 'Failed')], default='pending', max_length=20)),
                ('error', models.TextField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.customer')),
                ('message', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.message')),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
                ('rule', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='crm.automationrule')),
            ],
            options={
                'db_table': 'automation_runs',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddIndex(
            model_name='automationrule',
            index=models.Index(fields=['organization', 'priority', 'created_at'], name='automation_rules_org_prio_idx'),
        ),
        migrations.AddIndex(
            model_name='automationrun',
            index=models.Index(fields=['organization', 'rule', 'customer', '-created_at'], name='automation_runs_throttle_idx'),
        ),
        migrations.AddIndex(
            model_name='automationrun',
            index=models.Index(fields=['organization', 'message'], name='automation_runs_message_idx'),
        ),
        migrations.AddIndex(
            model_name='automationrun',
            index=models.Index(fields=['organization', 'customer'], name='automation_runs_customer_idx'),
        ),
        migrations.AddConstraint(
            model_name='automationrun',
            constraint=models.UniqueConstraint(fields=('organization', 'rule', 'message'), name='automation_runs_once_per_message'),
        ),
        EnableRowLevelSecurity("automation_rules", version=2),
        EnableRowLevelSecurity("automation_runs", version=2),
        migrations.RunPython(_run_on_postgresql(SAME_TENANT_KEYS),
                             _run_on_postgresql(DROP_SAME_TENANT_KEYS)),
    ]
