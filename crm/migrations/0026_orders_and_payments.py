"""Orders and payments: orders' server-computed total, currency and updated_at; free-form
order lines (order_items.name); payment links' expiry and last reconciliation (payments), with a
partial index of the open links; the tenant table payment_events (each gateway webhook event once,
row-level security, same-tenant key to orders).

Every new column is nullable or has a constant default: instant on PostgreSQL 11+. The new table
is empty, so its key is added and validated at once.
"""
import crm.fields
import django.db.models.deletion
import uuid
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity, LockTablesFirst

# Same-tenant keys, as crm.0022 (PostgreSQL only; deferred, checked at COMMIT).
PARENTS: list[str] = []
KEYS = [("payment_events", "order_id", "orders")]
NEW_TABLES = ["payment_events"]
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
        ('crm', '0025_integration_credentials'),
    ]

    operations = [
        # wb-crm may still be writing these (a takeover): all locks at once, no deadlock.
        LockTablesFirst("orders", "order_items", "payments"),
        migrations.CreateModel(
            name='PaymentEvent',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('provider', models.CharField(max_length=40)),
                ('event_id', models.CharField(max_length=100)),
                ('event', models.CharField(max_length=100)),
                ('outcome', models.TextField()),
                ('payload', models.JSONField()),
                ('received_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'db_table': 'payment_events',
                'ordering': ['-received_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='order',
            name='currency',
            field=models.CharField(blank=True, default='INR', max_length=3, null=True),
        ),
        migrations.AddField(
            model_name='order',
            name='total_amount',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name='order',
            name='updated_at',
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='orderitem',
            name='name',
            field=crm.fields.VarCharField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='payment',
            name='checked_at',
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='payment',
            name='expires_at',
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='payment',
            index=models.Index(condition=models.Q(('status', 'created')), fields=['created_at'], name='payments_open_links_idx'),
        ),
        migrations.AddField(
            model_name='paymentevent',
            name='order',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='crm.order'),
        ),
        migrations.AddField(
            model_name='paymentevent',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.AddIndex(
            model_name='paymentevent',
            index=models.Index(fields=['organization', 'order'], name='payment_events_order_idx'),
        ),
        migrations.AddConstraint(
            model_name='paymentevent',
            constraint=models.UniqueConstraint(fields=('organization', 'provider', 'event_id'), name='payment_events_once'),
        ),
        EnableRowLevelSecurity("payment_events", version=2),
        migrations.RunPython(_run_on_postgresql(SAME_TENANT_KEYS),
                             _run_on_postgresql(DROP_SAME_TENANT_KEYS)),
    ]
