"""WhatsApp numbers connected through Embedded Signup, and their health from Meta's webhook.

Nullable columns without a default: adding them is instant on PostgreSQL, whatever the table's
size. No new table, so no row-level security to enable.
"""
from __future__ import annotations

from django.db import migrations, models


def _text(length: int) -> models.CharField:
    return models.CharField(blank=True, editable=False, max_length=length, null=True)


class Migration(migrations.Migration):

    dependencies = [("crm", "0035_organization_exports")]

    operations = [
        migrations.AddField(model_name="whatsappnumber", name="verified_name",
                            field=models.CharField(blank=True, max_length=255, null=True)),
        migrations.AddField(model_name="whatsappnumber", name="registration_pin", field=_text(6)),
        migrations.AddField(model_name="whatsappnumber", name="quality_rating", field=_text(20)),
        migrations.AddField(model_name="whatsappnumber", name="messaging_limit_tier",
                            field=_text(50)),
        migrations.AddField(model_name="whatsappnumber", name="account_restriction",
                            field=_text(255)),
        migrations.AddField(model_name="whatsappnumber", name="account_updated_at",
                            field=models.DateTimeField(blank=True, editable=False, null=True)),
    ]
