
import crm.fields
import django.db.models.deletion
import django.db.models.functions.datetime
import uuid
from django.conf import settings
from django.db import migrations, models


class CreatePgEnums(migrations.operations.base.Operation):
    """Create wb-crm's PostgreSQL enum types on a fresh database (other backends use varchar)."""

    reduces_to_sql = True
    reversible = True

    def __init__(self, enums):
        self.enums = enums

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, values in self.enums.items():
            labels = ", ".join(schema_editor.quote_value(value) for value in values)
            schema_editor.execute(f"CREATE TYPE {name} AS ENUM ({labels})")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        for name in self.enums:
            schema_editor.execute(f"DROP TYPE {name}")

    def describe(self):
        return "Create PostgreSQL enum types " + ", ".join(self.enums)


class Migration(migrations.Migration):
    """wb-crm's schema before tenancy; existing databases take it with --fake-initial."""

    initial = True

    dependencies = [
    ]

    operations = [
        CreatePgEnums({
            "campaign_type_enum": ["text", "image", "document", "template", "interactive"],
            "customer_status_enum": ["pending", "open", "resolved"],
            "job_status_enum": ["pending", "success", "failure"],
            "user_role_enum": ["SUPER_ADMIN", "ADMIN", "AGENT"],
        }),
        migrations.CreateModel(
            name='User',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('username', models.CharField(max_length=100)),
                ('password', models.CharField(max_length=255)),
                ('first_name', models.CharField(max_length=100)),
                ('last_name', models.CharField(max_length=100)),
                ('phone_number', models.CharField(max_length=20)),
                ('email', models.CharField(max_length=100)),
                ('legacy_role', crm.fields.PgEnumField(blank=True, choices=[('SUPER_ADMIN', 'Super Admin'), ('ADMIN', 'Admin'), ('AGENT', 'Agent')], db_column='role', enum_name='user_role_enum', max_length=32, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'users',
                'ordering': ['username'],
                'base_manager_name': 'objects',
            },
        ),
        migrations.CreateModel(
            name='Category',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=120, unique=True)),
                ('slug', models.CharField(blank=True, max_length=140, null=True, unique=True)),
                ('description', models.TextField(blank=True, null=True)),
                ('image_url', models.CharField(blank=True, max_length=500, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name_plural': 'categories',
                'db_table': 'categories',
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='Cost',
            fields=[
                ('type', models.CharField(max_length=50, primary_key=True, serialize=False)),
                ('price', models.FloatField()),
            ],
            options={
                'db_table': 'costs',
                'ordering': ['type'],
            },
        ),
        migrations.CreateModel(
            name='File',
            fields=[
                ('id', crm.fields.VarCharField(primary_key=True, serialize=False)),
                ('name', crm.fields.VarCharField()),
                ('mimetype', crm.fields.VarCharField(blank=True, null=True)),
                ('created_at', models.DateTimeField(blank=True, db_default=django.db.models.functions.datetime.Now(), null=True)),
            ],
            options={
                'db_table': 'files',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='Organization',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(db_index=True, max_length=255)),
                ('code', models.CharField(blank=True, max_length=50, null=True, unique=True)),
                ('slug', models.CharField(blank=True, max_length=255, null=True, unique=True)),
                ('description', models.TextField(blank=True, null=True)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'organizations',
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='Role',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=50, unique=True)),
                ('display_name', models.CharField(max_length=100)),
                ('description', models.TextField(blank=True, null=True)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'roles',
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='Campaign',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=255)),
                ('description', models.CharField(blank=True, max_length=1000, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('content', models.JSONField(blank=True, null=True)),
                ('type', crm.fields.PgEnumField(choices=[('text', 'Text'), ('image', 'Image'), ('document', 'Document'), ('template', 'Template'), ('interactive', 'Interactive')], db_index=True, enum_name='campaign_type_enum', max_length=32)),
                ('status', models.CharField(blank=True, db_index=True, max_length=20, null=True)),
                ('created_by', models.ForeignKey(db_column='created_by', on_delete=django.db.models.deletion.CASCADE, related_name='campaigns_created', to=settings.AUTH_USER_MODEL)),
                ('updated_by', models.ForeignKey(blank=True, db_column='updated_by', db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='campaigns_updated', to=settings.AUTH_USER_MODEL)),
                ('campaign_cost_type', models.ForeignKey(blank=True, db_column='campaign_cost_type', db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.cost')),
            ],
            options={
                'db_table': 'campaigns',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='Customer',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('wa_id', crm.fields.VarCharField(unique=True)),
                ('name', crm.fields.VarCharField(blank=True, null=True)),
                ('phone_1', models.CharField(blank=True, max_length=20, null=True)),
                ('phone_2', models.CharField(blank=True, max_length=20, null=True)),
                ('email', crm.fields.VarCharField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
                ('last_message_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('last_interaction_time', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('last_message_type', models.CharField(blank=True, max_length=50, null=True)),
                ('next_followup_time', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
                ('customer_status', crm.fields.PgEnumField(choices=[('pending', 'Pending'), ('open', 'Open'), ('resolved', 'Resolved')], default='pending', enum_name='customer_status_enum', max_length=32)),
                ('user', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='customers', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'customers',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='CustomerAddress',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('full_name', models.CharField(max_length=100)),
                ('house_street', models.CharField(max_length=200)),
                ('locality', models.CharField(max_length=100)),
                ('city', models.CharField(max_length=50)),
                ('state', models.CharField(max_length=50)),
                ('pincode', models.CharField(max_length=10)),
                ('landmark', models.CharField(blank=True, max_length=100, null=True)),
                ('phone', models.CharField(max_length=15)),
                ('latitude', models.FloatField(blank=True, null=True)),
                ('longitude', models.FloatField(blank=True, null=True)),
                ('address_type', models.CharField(blank=True, max_length=20, null=True)),
                ('is_default', models.BooleanField(blank=True, null=True)),
                ('is_verified', models.BooleanField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='addresses', to='crm.customer')),
            ],
            options={
                'verbose_name_plural': 'customer addresses',
                'db_table': 'customer_addresses',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='customer',
            name='default_address',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.customeraddress'),
        ),
        migrations.CreateModel(
            name='Job',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
                ('last_triggered_time', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='jobs', to='crm.campaign')),
                ('last_attempted_by', models.ForeignKey(blank=True, db_column='last_attempted_by', db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'jobs',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='campaign',
            name='last_job',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='crm.job'),
        ),
        migrations.CreateModel(
            name='Order',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('catalog_id', crm.fields.VarCharField(blank=True, null=True)),
                ('timestamp', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
                ('status', models.CharField(blank=True, db_index=True, default='pending', max_length=20, null=True)),
                ('payment_completed_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('modification_started_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('customer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='crm.customer')),
                ('shipping_address', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.customeraddress')),
            ],
            options={
                'db_table': 'orders',
                'ordering': ['-timestamp'],
            },
        ),
        migrations.CreateModel(
            name='Message',
            fields=[
                ('id', models.AutoField(primary_key=True, serialize=False)),
                ('message_id', crm.fields.VarCharField(blank=True, null=True)),
                ('from_wa_id', crm.fields.VarCharField(blank=True, null=True)),
                ('to_wa_id', crm.fields.VarCharField(blank=True, null=True)),
                ('type', crm.fields.VarCharField(blank=True, null=True)),
                ('body', crm.fields.VarCharField(blank=True, null=True)),
                ('timestamp', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('center_id', crm.fields.VarCharField(blank=True, null=True)),
                ('agent_id', crm.fields.VarCharField(blank=True, null=True)),
                ('sender_type', crm.fields.VarCharField(blank=True, null=True)),
                ('media_id', crm.fields.VarCharField(blank=True, null=True)),
                ('caption', crm.fields.VarCharField(blank=True, null=True)),
                ('filename', crm.fields.VarCharField(blank=True, null=True)),
                ('mime_type', crm.fields.VarCharField(blank=True, null=True)),
                ('latitude', models.FloatField(blank=True, null=True)),
                ('longitude', models.FloatField(blank=True, null=True)),
                ('customer', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='messages', to='crm.customer')),
            ],
            options={
                'db_table': 'messages',
                'ordering': ['-timestamp', '-id'],
            },
        ),
        migrations.CreateModel(
            name='JobStatus',
            fields=[
                ('pk', models.CompositePrimaryKey('job', 'customer', blank=True, editable=False, primary_key=True, serialize=False)),
                ('status', crm.fields.PgEnumField(choices=[('pending', 'Pending'), ('success', 'Success'), ('failure', 'Failure')], enum_name='job_status_enum', max_length=32)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='job_statuses', to='crm.customer')),
                ('job', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='statuses', to='crm.job')),
            ],
            options={
                'verbose_name_plural': 'job statuses',
                'db_table': 'job_status',
            },
        ),
        migrations.CreateModel(
            name='FlowLog',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('wa_id', models.CharField(blank=True, db_index=True, max_length=64, null=True)),
                ('name', models.CharField(blank=True, max_length=255, null=True)),
                ('flow_type', models.CharField(max_length=50)),
                ('step', models.CharField(blank=True, max_length=100, null=True)),
                ('status_code', models.IntegerField(blank=True, null=True)),
                ('description', models.TextField(blank=True, null=True)),
                ('response_json', models.TextField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
            ],
            options={
                'db_table': 'flow_logs',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='customer',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.CreateModel(
            name='CampaignRecipient',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('phone_number', models.CharField(db_index=True, max_length=20)),
                ('name', models.CharField(blank=True, max_length=100, null=True)),
                ('params', crm.fields.PlainJSONField(blank=True, null=True)),
                ('status', models.CharField(blank=True, db_index=True, max_length=20, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('campaign', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='recipients', to='crm.campaign')),
            ],
            options={
                'db_table': 'campaign_recipients',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='CampaignLog',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('target_type', models.CharField(max_length=20)),
                ('target_id', models.UUIDField(blank=True, null=True)),
                ('phone_number', models.CharField(blank=True, db_index=True, max_length=20, null=True)),
                ('status', models.CharField(db_index=True, max_length=20)),
                ('error_code', models.CharField(blank=True, max_length=50, null=True)),
                ('error_message', models.TextField(blank=True, null=True)),
                ('whatsapp_message_id', models.CharField(blank=True, max_length=100, null=True)),
                ('http_status_code', models.IntegerField(blank=True, null=True)),
                ('request_payload', models.JSONField(blank=True, null=True)),
                ('response_data', models.JSONField(blank=True, null=True)),
                ('processing_time_ms', models.IntegerField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
                ('processed_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('retry_count', models.IntegerField(blank=True, null=True)),
                ('last_retry_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='logs', to='crm.campaign')),
                ('job', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='logs', to='crm.job')),
            ],
            options={
                'db_table': 'campaign_logs',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='AddressCollectionSession',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('status', models.CharField(blank=True, max_length=20, null=True)),
                ('collection_method', models.CharField(blank=True, max_length=20, null=True)),
                ('session_data', models.JSONField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('expires_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('completed_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='address_sessions', to='crm.customer')),
                ('order', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='address_sessions', to='crm.order')),
            ],
            options={
                'db_table': 'address_collection_sessions',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='user',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.CreateModel(
            name='Payment',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('amount', models.FloatField()),
                ('currency', models.CharField(default='INR', max_length=10)),
                ('razorpay_id', crm.fields.VarCharField(blank=True, db_index=True, null=True)),
                ('razorpay_short_url', crm.fields.VarCharField(blank=True, null=True)),
                ('status', crm.fields.VarCharField(db_index=True, default='created')),
                ('notification_sent', models.BooleanField(blank=True, default=False, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('order', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='payments', to='crm.order')),
            ],
            options={
                'db_table': 'payments',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='PaymentTransaction',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('transaction_id', models.CharField(max_length=100, unique=True)),
                ('payment_method', models.CharField(max_length=50)),
                ('payment_gateway', models.CharField(max_length=50)),
                ('amount', models.FloatField()),
                ('currency', models.CharField(blank=True, default='INR', max_length=3, null=True)),
                ('status', models.CharField(blank=True, default='pending', max_length=50, null=True)),
                ('gateway_transaction_id', models.CharField(blank=True, max_length=100, null=True)),
                ('gateway_response', models.JSONField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('order', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='transactions', to='crm.order')),
            ],
            options={
                'db_table': 'payment_transactions',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='Product',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=255)),
                ('sku', models.CharField(blank=True, max_length=100, null=True, unique=True)),
                ('price', models.FloatField()),
                ('description', models.TextField(blank=True, null=True)),
                ('image_url', models.CharField(blank=True, max_length=500, null=True)),
                ('stock', models.IntegerField(default=0)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('category', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='products', to='crm.category')),
            ],
            options={
                'db_table': 'products',
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='OrderItem',
            fields=[
                ('id', models.AutoField(primary_key=True, serialize=False)),
                ('product_retailer_id', crm.fields.VarCharField(blank=True, null=True)),
                ('quantity', models.IntegerField(default=1)),
                ('price', models.FloatField(blank=True, null=True)),
                ('total_price', models.FloatField(blank=True, null=True)),
                ('item_price', models.FloatField(blank=True, null=True)),
                ('currency', crm.fields.VarCharField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('is_modification_addition', models.BooleanField(default=False)),
                ('modification_timestamp', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('order', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='items', to='crm.order')),
                ('product', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.product')),
            ],
            options={
                'db_table': 'order_items',
                'ordering': ['id'],
            },
        ),
        migrations.CreateModel(
            name='QuickReply',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('title', models.CharField(max_length=255)),
                ('content', models.TextField()),
                ('category', models.CharField(blank=True, max_length=120, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, db_column='created_by', db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='quick_replies', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name_plural': 'quick replies',
                'db_table': 'quick_replies',
                'ordering': ['title'],
            },
        ),
        migrations.CreateModel(
            name='ReferrerTracking',
            fields=[
                ('id', models.AutoField(primary_key=True, serialize=False)),
                ('wa_id', crm.fields.VarCharField(blank=True, db_index=True, null=True)),
                ('center_name', crm.fields.VarCharField(blank=True, null=True)),
                ('location', crm.fields.VarCharField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('appointment_date', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('appointment_time', crm.fields.VarCharField(blank=True, null=True)),
                ('treatment_type', crm.fields.VarCharField(blank=True, null=True)),
                ('is_appointment_booked', models.BooleanField(blank=True, null=True)),
                ('customer', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='referrals', to='crm.customer')),
            ],
            options={
                'verbose_name_plural': 'referrer tracking',
                'db_table': 'referrer_tracking',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='user',
            name='role',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.role'),
        ),
        migrations.CreateModel(
            name='SubCategory',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=120)),
                ('slug', models.CharField(blank=True, max_length=140, null=True, unique=True)),
                ('description', models.TextField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('category', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sub_categories', to='crm.category')),
            ],
            options={
                'verbose_name_plural': 'sub-categories',
                'db_table': 'sub_categories',
                'ordering': ['name'],
            },
        ),
        migrations.AddField(
            model_name='product',
            name='sub_category',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='products', to='crm.subcategory'),
        ),
        migrations.CreateModel(
            name='Template',
            fields=[
                ('template_name', crm.fields.VarCharField(primary_key=True, serialize=False)),
                ('template_body', models.JSONField()),
                ('template_vars', models.JSONField()),
                ('facebook_template_id', crm.fields.VarCharField(blank=True, db_index=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'templates',
                'ordering': ['template_name'],
            },
        ),
        migrations.CreateModel(
            name='WhatsAppApiLog',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('phone_number', models.CharField(blank=True, db_index=True, max_length=20, null=True)),
                ('request_url', models.CharField(blank=True, max_length=500, null=True)),
                ('request_payload', models.JSONField(blank=True, null=True)),
                ('request_headers', models.JSONField(blank=True, null=True)),
                ('response_status_code', models.IntegerField(blank=True, null=True)),
                ('response_body', models.JSONField(blank=True, null=True)),
                ('response_headers', models.JSONField(blank=True, null=True)),
                ('whatsapp_message_id', models.CharField(blank=True, max_length=100, null=True)),
                ('error_code', models.CharField(blank=True, max_length=50, null=True)),
                ('error_message', models.TextField(blank=True, null=True)),
                ('request_time', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('response_time', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('duration_ms', models.IntegerField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
                ('campaign', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='api_logs', to='crm.campaign')),
                ('job', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='api_logs', to='crm.job')),
            ],
            options={
                'verbose_name': 'WhatsApp API log',
                'db_table': 'whatsapp_api_logs',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='WhatsAppNumber',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('phone_number_id', models.CharField(max_length=100, unique=True)),
                ('display_number', models.CharField(blank=True, max_length=50, null=True)),
                ('access_token', models.CharField(blank=True, max_length=500, null=True)),
                ('webhook_path', models.CharField(blank=True, max_length=255, null=True)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'verbose_name': 'WhatsApp number',
                'db_table': 'whatsapp_numbers',
                'ordering': ['display_number'],
            },
        ),
        migrations.CreateModel(
            name='NumberFlowConfig',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('display_number', crm.fields.VarCharField()),
                ('display_digits', models.CharField(blank=True, max_length=20, null=True, unique=True)),
                ('flow_key', models.CharField(max_length=100)),
                ('flow_name', models.CharField(max_length=255)),
                ('description', models.TextField(blank=True, null=True)),
                ('priority', models.IntegerField(blank=True, default=0, null=True)),
                ('is_enabled', models.BooleanField(blank=True, default=True, null=True)),
                ('auto_enable_from', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('auto_enable_to', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('phone_number', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='flow_config', to='crm.whatsappnumber', to_field='phone_number_id')),
            ],
            options={
                'db_table': 'number_flow_configs',
                'ordering': ['flow_key'],
            },
        ),
        migrations.CreateModel(
            name='ZohoMapping',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('treatment_name', models.CharField(max_length=255, unique=True)),
                ('zoho_name', models.CharField(db_index=True, max_length=255)),
                ('zoho_sub_concern', models.CharField(blank=True, max_length=500, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'zoho_mappings',
                'ordering': ['treatment_name'],
            },
        ),
        migrations.CreateModel(
            name='ZohoPayloadLog',
            fields=[
                ('id', models.AutoField(primary_key=True, serialize=False)),
                ('wa_id', models.CharField(blank=True, db_index=True, max_length=50, null=True)),
                ('lead_id', models.CharField(blank=True, max_length=100, null=True)),
                ('zoho_lead_id', models.CharField(blank=True, max_length=100, null=True)),
                ('payload', models.JSONField(blank=True, null=True)),
                ('response', models.JSONField(blank=True, null=True)),
                ('status', models.CharField(blank=True, max_length=50, null=True)),
                ('error_message', models.TextField(blank=True, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, db_index=True, null=True)),
            ],
            options={
                'db_table': 'zoho_payload_logs',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='Lead',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('zoho_lead_id', crm.fields.VarCharField(unique=True)),
                ('first_name', models.CharField(max_length=100)),
                ('last_name', models.CharField(blank=True, max_length=100, null=True)),
                ('email', models.CharField(blank=True, max_length=255, null=True)),
                ('phone', models.CharField(db_index=True, max_length=20)),
                ('mobile', models.CharField(blank=True, max_length=20, null=True)),
                ('city', models.CharField(blank=True, max_length=100, null=True)),
                ('location', models.CharField(blank=True, max_length=100, null=True)),
                ('lead_source', models.CharField(blank=True, max_length=100, null=True)),
                ('company', models.CharField(blank=True, max_length=100, null=True)),
                ('wa_id', crm.fields.VarCharField(db_index=True)),
                ('appointment_details', models.JSONField(blank=True, null=True)),
                ('treatment_name', models.CharField(blank=True, max_length=255, null=True)),
                ('zoho_mapped_concern', models.CharField(blank=True, max_length=255, null=True)),
                ('primary_concern', models.CharField(blank=True, max_length=255, null=True)),
                ('sub_source', models.CharField(blank=True, max_length=50, null=True)),
                ('created_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('updated_at', crm.fields.UTCDateTimeField(blank=True, null=True)),
                ('customer', models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='leads', to='crm.customer')),
            ],
            options={
                'db_table': 'leads',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddIndex(
            model_name='campaignlog',
            index=models.Index(fields=['job', 'target_id'], name='ix_campaign_logs_job_target'),
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(fields=('username', 'organization'), name='ix_users_username_organization'),
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(fields=('email', 'organization'), name='ix_users_email_organization'),
        ),
    ]
