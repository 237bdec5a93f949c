"""Where each lead's push to Zoho CRM stands: status, time pushed, Zoho's refusal.

All nullable without a default, so adding them to wb-crm's leads table is instant on PostgreSQL;
legacy leads keep no status (never asked to be pushed).
"""
from django.db import migrations, models

import crm.fields


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0026_orders_and_payments'),
    ]

    operations = [
        migrations.AddField(
            model_name='lead',
            name='zoho_push_status',
            field=models.CharField(blank=True, choices=[('queued', 'Queued'), ('pushed', 'Pushed'), ('waiting', 'waiting for working credentials'), ('failed', 'refused by Zoho')], editable=False, max_length=20, null=True),
        ),
        migrations.AddField(
            model_name='lead',
            name='zoho_pushed_at',
            field=crm.fields.UTCDateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='lead',
            name='zoho_push_error',
            field=models.TextField(blank=True, editable=False, null=True),
        ),
    ]
