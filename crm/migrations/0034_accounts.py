"""Accounts: organizations.email_confirmed (existing ones count as confirmed), users.is_active,
and the tenant tables invitations and audit_events (row-level security, NOT NULL organization).

The new tables are empty. Their only keys are to `users`, which get no same-tenant key (platform
staff have no organization: see crm.0011), so KEYS is empty.
"""

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity

PARENTS: list[str] = []
KEYS: list[tuple[str, str, str]] = []
NEW_TABLES = ["invitations", "audit_events"]
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
        ('crm', '0033_inbound_deliveries'),
    ]

    operations = [
        migrations.AddField(
            model_name='organization',
            name='email_confirmed',
            field=models.BooleanField(default=True, help_text='Its ORG_ADMIN confirmed their e-mail address: it may send.'),
        ),
        migrations.AddField(
            model_name='user',
            name='is_active',
            field=models.BooleanField(default=True),
        ),
        migrations.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('action', models.CharField(max_length=50)),
                ('actor_id', models.UUIDField(blank=True, null=True)),
                ('actor_name', models.CharField(blank=True, default='', max_length=100)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'audit_events',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['organization', '-created_at'], name='audit_events_org_created_idx')],
            },
        ),
        migrations.CreateModel(
            name='Invitation',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('email', models.EmailField(max_length=100)),
                ('nonce', models.CharField(editable=False, max_length=32)),
                ('expires_at', models.DateTimeField()),
                ('accepted_at', models.DateTimeField(blank=True, null=True)),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('invited_by', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
                ('role', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.role')),
                ('user', models.ForeignKey(blank=True, db_index=False, help_text='The user who accepted it.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'invitations',
                'ordering': ['-created_at', 'id'],
                'indexes': [models.Index(fields=['organization', 'email'], name='invitations_org_email_idx')],
            },
        ),
        EnableRowLevelSecurity("invitations", version=2),
        EnableRowLevelSecurity("audit_events", version=2),
        migrations.RunPython(_run_on_postgresql(NOT_NULL), _run_on_postgresql(NULLABLE)),
    ]
