"""Outgoing webhooks: the tenant tables webhook_subscriptions and webhook_deliveries (row-level
security, same-tenant keys), as crm.0024.

The new tables are empty, so their keys are added and validated at once; the app role's grants
on them come from the default privileges `tenancy_roles` set for the owner.
"""
import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity

PARENTS = ["webhook_subscriptions"]
KEYS = [
    ("webhook_deliveries", "subscription_id", "webhook_subscriptions"),
]
NEW_TABLES = ["webhook_subscriptions", "webhook_deliveries"]
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
        ('crm', '0027_lead_zoho_push'),
    ]

    operations = [
        migrations.CreateModel(
            name='WebhookSubscription',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('url', models.CharField(help_text='http(s) URL of a public address.', max_length=2000)),
                ('events', models.JSONField(help_text='For example ["message.received", "lead.created"].')),
                ('description', models.CharField(blank=True, default='', max_length=200)),
                ('secret', models.CharField(editable=False, max_length=100)),
                ('is_active', models.BooleanField(default=True)),
                ('consecutive_failures', models.PositiveIntegerField(default=0, editable=False)),
                ('disabled_reason', models.TextField(blank=True, default='', editable=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'webhook_subscriptions',
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('event', models.CharField(max_length=50)),
                ('event_id', models.UUIDField(help_text='The same on every attempt: receivers de-duplicate by it.')),
                ('payload', models.JSONField()),
                ('attempt', models.PositiveIntegerField(default=1)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='pending', max_length=20)),
                ('status_code', models.IntegerField(blank=True, null=True)),
                ('answer', models.TextField(blank=True, default='', help_text='The start of the answer.')),
                ('error', models.TextField(blank=True, default='')),
                ('next_try_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
                ('subscription', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='crm.webhooksubscription')),
            ],
            options={
                'db_table': 'webhook_deliveries',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddIndex(
            model_name='webhooksubscription',
            index=models.Index(fields=['organization', 'is_active'], name='webhook_subs_active_idx'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(fields=['organization', 'subscription', '-created_at'], name='webhook_deliv_sub_idx'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(fields=['organization', 'event_id'], name='webhook_deliv_event_idx'),
        ),
        EnableRowLevelSecurity("webhook_subscriptions", version=2),
        EnableRowLevelSecurity("webhook_deliveries", version=2),
        migrations.RunPython(_run_on_postgresql(SAME_TENANT_KEYS),
                             _run_on_postgresql(DROP_SAME_TENANT_KEYS)),
    ]
