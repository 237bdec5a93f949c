"""customers.marketing_opt_out_at: when a customer stopped marketing messages (NULL: they accept).

Nullable without a default, so adding it is instant on PostgreSQL whatever the table's size.
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("crm", "0007_tenant_list_indexes")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="marketing_opt_out_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
