"""Contact imports and segments: organizations.default_country, and the tenant tables
contact_imports and segments (row-level security; organization_id NOT NULL).

Neither table points at another tenant table, so there are no same-tenant keys to add.
"""
import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity

PARENTS: list[str] = []
KEYS: list[tuple[str, str, str]] = []
NEW_TABLES = ["contact_imports", "segments"]
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
        ('crm', '0030_contacts_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='organization',
            name='default_country',
            field=models.CharField(default='IN', help_text='ISO 3166 alpha-2 code, such as IN or AE.', max_length=2),
        ),
        migrations.CreateModel(
            name='ContactImport',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('file_name', models.CharField(max_length=255)),
                ('file_format', models.CharField(help_text='csv or xlsx.', max_length=10)),
                ('data', models.BinaryField(blank=True, null=True)),
                ('mapping', models.JSONField(blank=True, default=dict, help_text='Columns of the file per field, such as {"phone": "Mobile", "name": "Name", "labels": "Tags", "attributes": {"city": "City"}}.')),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=20)),
                ('total_rows', models.IntegerField(default=0)),
                ('processed_rows', models.IntegerField(default=0)),
                ('created_count', models.IntegerField(default=0)),
                ('updated_count', models.IntegerField(default=0)),
                ('unchanged_count', models.IntegerField(default=0)),
                ('rejected_count', models.IntegerField(default=0)),
                ('rejected', models.JSONField(blank=True, default=list)),
                ('error', models.TextField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'contact_imports',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['organization', '-created_at'], name='contact_imports_org_idx')],
            },
        ),
        migrations.CreateModel(
            name='Segment',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=200)),
                ('filters', models.JSONField(blank=True, default=dict, help_text='Such as {"labels": ["vip"], "attributes": {"city": "Pune"}, "last_message_after": "2026-01-01", "last_message_before": "2026-02-01", "source_ad": "120208", "opted_out": false, "has_ordered": true}.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'segments',
                'ordering': ['name', 'id'],
                'constraints': [models.UniqueConstraint(fields=('organization', 'name'), name='segments_org_name_uniq')],
            },
        ),
        EnableRowLevelSecurity("contact_imports", version=2),
        EnableRowLevelSecurity("segments", version=2),
        migrations.RunPython(_run_on_postgresql(NOT_NULL), _run_on_postgresql(NULLABLE)),
    ]
