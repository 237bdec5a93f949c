"""Campaign personalisation: each job_status row carries its recipient's placeholder values.

A new nullable column: instant on PostgreSQL, whatever the size of job_status.
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0015_campaign_sending'),
    ]

    operations = [
        migrations.AddField(
            model_name='jobstatus',
            name='params',
            field=models.JSONField(blank=True, null=True),
        ),
    ]
