"""WhatsApp numbers prove control before they receive: verification status, time and note.

Numbers that exist when this runs (a taken-over wb-crm database, where the platform operator set
them up) count as verified, so inbound messages keep flowing; every number added or changed later
starts pending. Adding a column with a constant default is instant on PostgreSQL 11+.
"""
from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("crm", "0011_same_tenant_keys")]

    operations = [
        # Existing rows take "verified" (the column's default while it is added)...
        migrations.AddField(
            model_name="whatsappnumber", name="verification_status",
            field=models.CharField(choices=[("pending", "Pending"), ("verified", "Verified")],
                                   default="verified", max_length=20),
        ),
        # ...new rows start pending (Django applies the default; the column keeps none).
        migrations.AlterField(
            model_name="whatsappnumber", name="verification_status",
            field=models.CharField(choices=[("pending", "Pending"), ("verified", "Verified")],
                                   default="pending", max_length=20),
        ),
        migrations.AddField(
            model_name="whatsappnumber", name="verified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="whatsappnumber", name="verification_note",
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
    ]
