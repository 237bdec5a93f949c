"""Webhook deliveries (crm.webhooks.deliveries): a platform table, written before the
organization is known, so no organization column and no row-level security; only platform staff
read it. Workers take waiting rows through a partial index on the pending ones.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0032_reports'),
    ]

    operations = [
        migrations.CreateModel(
            name='InboundDelivery',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('received_at', models.DateTimeField()),
                ('body', models.TextField(help_text='The request body as received (signed by Meta).')),
                ('senders', models.JSONField(blank=True, default=list)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('processed_at', models.DateTimeField(blank=True, null=True)),
                ('error', models.TextField(blank=True, default='')),
                ('report', models.JSONField(blank=True, help_text='What processing stored and ignored (ids and reasons).', null=True)),
            ],
            options={
                'verbose_name_plural': 'webhook deliveries',
                'db_table': 'inbound_deliveries',
                'ordering': ['-id'],
                'indexes': [models.Index(condition=models.Q(('state', 'pending')), fields=['id'], name='webhook_pending_idx'), models.Index(fields=['received_at'], name='webhook_received_idx'), models.Index(fields=['state', 'received_at'], name='webhook_state_idx')],
            },
        ),
    ]
