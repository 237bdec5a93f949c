"""Contacts: the tenant tables labels, customer_labels, attribute_definitions and
conversation_notes (row-level security, same-tenant keys); customers' attributes,
conversation_status and snoozed_until.

The new customer columns have constant database defaults (instant on PostgreSQL 11+; set-based
inserts fill them too). The new tables are empty, so their keys are added and validated at once;
the app role's grants on them come from the default privileges `tenancy_roles` set for the owner.
The customers' indexes for the status filter are built concurrently by crm.0030.
"""
import django.db.models.deletion
import django.db.models.functions.text
import uuid
from django.conf import settings
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity, LockTablesFirst

# Same-tenant keys, as crm.0022: the parent's unique (organization_id, id), and (child, column,
# parent) keys; organization_id is NOT NULL from the start. Notes' author is a plain key: platform
# staff (no organization) may write notes.
PARENTS = ["labels"]
KEYS = [
    ("customer_labels", "customer_id", "customers"),
    ("customer_labels", "label_id", "labels"),
    ("conversation_notes", "customer_id", "customers"),
]
NEW_TABLES = ["labels", "customer_labels", "attribute_definitions", "conversation_notes"]
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
        ('crm', '0028_outgoing_webhooks'),
    ]

    operations = [
        # wb-crm may still be writing these (a takeover): all locks at once, no deadlock.
        LockTablesFirst("customers", "users"),
        migrations.CreateModel(
            name='AttributeDefinition',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('key', models.CharField(help_text='Lower-case letters, digits and _, such as city or birth_date.', max_length=50)),
                ('label', models.CharField(max_length=100)),
                ('type', models.CharField(choices=[('text', 'Text'), ('number', 'Number'), ('date', 'Date'), ('boolean', 'Boolean'), ('choice', 'Choice')], default='text', max_length=20)),
                ('choices', models.JSONField(blank=True, default=list, help_text='For type choice: the allowed values, ["Gold", "Silver"].')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'db_table': 'attribute_definitions',
                'ordering': ['key', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ConversationNote',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('body', models.TextField()),
                ('mentions', models.JSONField(blank=True, default=list)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'db_table': 'conversation_notes',
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='CustomerLabel',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'db_table': 'customer_labels',
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='Label',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=50)),
                ('color', models.CharField(default='#64748b', help_text='#rrggbb', max_length=7)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'db_table': 'labels',
                'ordering': ['name', 'id'],
            },
        ),
        migrations.AddField(
            model_name='customer',
            name='attributes',
            field=models.JSONField(blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict),
        ),
        migrations.AddField(
            model_name='customer',
            name='conversation_status',
            field=models.CharField(choices=[('open', 'Open'), ('pending', 'Pending'), ('resolved', 'Resolved'), ('snoozed', 'Snoozed')], db_default='open', default='open', max_length=20),
        ),
        migrations.AddField(
            model_name='customer',
            name='snoozed_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='attributedefinition',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.AddField(
            model_name='conversationnote',
            name='author',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='conversationnote',
            name='customer',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='notes', to='crm.customer'),
        ),
        migrations.AddField(
            model_name='conversationnote',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.AddField(
            model_name='customerlabel',
            name='customer',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='label_links', to='crm.customer'),
        ),
        migrations.AddField(
            model_name='customerlabel',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.AddField(
            model_name='label',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.AddField(
            model_name='customerlabel',
            name='label',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='customer_links', to='crm.label'),
        ),
        migrations.AddConstraint(
            model_name='attributedefinition',
            constraint=models.UniqueConstraint(fields=('organization', 'key'), name='attribute_definitions_key_uniq'),
        ),
        migrations.AddIndex(
            model_name='conversationnote',
            index=models.Index(fields=['organization', 'customer', 'created_at'], name='conversation_notes_cust_idx'),
        ),
        migrations.AddConstraint(
            model_name='label',
            constraint=models.UniqueConstraint(models.F('organization'), django.db.models.functions.text.Lower('name'), name='labels_org_name_uniq'),
        ),
        migrations.AddIndex(
            model_name='customerlabel',
            index=models.Index(fields=['organization', 'label', 'customer'], name='customer_labels_label_idx'),
        ),
        migrations.AddConstraint(
            model_name='customerlabel',
            constraint=models.UniqueConstraint(fields=('organization', 'customer', 'label'), name='customer_labels_once'),
        ),
        EnableRowLevelSecurity("labels", version=2),
        EnableRowLevelSecurity("customer_labels", version=2),
        EnableRowLevelSecurity("attribute_definitions", version=2),
        EnableRowLevelSecurity("conversation_notes", version=2),
        migrations.RunPython(_run_on_postgresql(SAME_TENANT_KEYS),
                             _run_on_postgresql(DROP_SAME_TENANT_KEYS)),
    ]
