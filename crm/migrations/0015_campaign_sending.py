"""Campaign sending: the campaign_customers table modelled, per-number send rates, job progress.

campaign_customers is wb-crm's own table (campaign_id, customer_id), absent from crm.0001: on a
legacy database it exists and keeps its rows; elsewhere it is created. Either way it gains
organization_id, filled from its campaign (set-based, in batches). Everything else is new nullable
columns (or with a constant default: instant on PostgreSQL 11+).
"""
import importlib

import crm.fields
import django.db.models.deletion
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity, LockTablesFirst

MARKER = "added by crm.0015_campaign_sending"
BATCH = 10000
# crm.0002's cut-over triggers: while wb-crm still runs (its triggers are there), campaign_customers
# gets one too, from the same derivation code, before its backfill.
takeover = importlib.import_module("crm.migrations.0002_organization_id")
CAMPAIGN = [takeover.parent("campaign_id", "campaigns")]


def _one(connection, sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


# The model as Django sees it; the database side is EnsureCampaignCustomers.
STATE = [
    migrations.CreateModel(
        name='CampaignCustomer',
        fields=[
            ('pk', models.CompositePrimaryKey('campaign', 'customer', blank=True, editable=False, primary_key=True, serialize=False)),
        ],
        options={
            'db_table': 'campaign_customers',
        },
    ),
    migrations.AddField(
        model_name='campaigncustomer',
        name='campaign',
        field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='audience', to='crm.campaign'),
    ),
    migrations.AddField(
        model_name='campaigncustomer',
        name='customer',
        field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='campaign_memberships', to='crm.customer'),
    ),
    migrations.AddField(
        model_name='campaigncustomer',
        name='organization',
        field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
    ),
    migrations.AddIndex(
        model_name='campaigncustomer',
        index=models.Index(fields=['organization', 'campaign'], name='campaign_customers_org_idx'),
    ),
]


def _with_model(app_label, state):
    state = state.clone()
    for operation in STATE:
        operation.state_forwards(app_label, state)
    return state.apps.get_model(app_label, "CampaignCustomer")


class EnsureCampaignCustomers(migrations.operations.base.Operation):
    """PostgreSQL: create campaign_customers where missing, add and fill organization_id."""

    reversible = True

    def state_forwards(self, app_label, state):
        pass  # the state is SeparateDatabaseAndState's

    def describe(self):
        return "Ensure campaign_customers with organization_id"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            schema_editor.create_model(_with_model(app_label, from_state))
            return
        if _one(connection, "SELECT to_regclass('campaign_customers')")[0] is None:
            schema_editor.execute(
                "CREATE TABLE campaign_customers ("
                " campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,"
                " customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,"
                " PRIMARY KEY (campaign_id, customer_id))"
            )
            schema_editor.execute(f"COMMENT ON TABLE campaign_customers IS '{MARKER}'")
        schema_editor.execute(
            "ALTER TABLE campaign_customers ADD COLUMN IF NOT EXISTS organization_id uuid "
            "REFERENCES organizations (id)"
        )
        schema_editor.execute(f"COMMENT ON COLUMN campaign_customers.organization_id IS '{MARKER}'")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS campaign_customers_org_idx "
            "ON campaign_customers (organization_id, campaign_id)"
        )
        if _one(connection, "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = %s "
                "AND tgrelid = 'campaigns'::regclass)", [takeover.TRIGGER])[0]:
            for statement in takeover.trigger_sql("campaign_customers", CAMPAIGN):
                schema_editor.execute(statement, params=None)
        # Batches keep each statement's locks and WAL small on large legacy tables.
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE campaign_customers cc SET organization_id = c.organization_id "
                    "FROM campaigns c WHERE c.id = cc.campaign_id AND (cc.campaign_id, "
                    "cc.customer_id) IN (SELECT x.campaign_id, x.customer_id "
                    "FROM campaign_customers x JOIN campaigns y ON y.id = x.campaign_id "
                    "WHERE x.organization_id IS NULL AND y.organization_id IS NOT NULL LIMIT %s)",
                    [BATCH],
                )
                if cursor.rowcount == 0:
                    break

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            schema_editor.delete_model(_with_model(app_label, to_state))
            return
        if _one(connection, "SELECT obj_description(to_regclass('campaign_customers'), 'pg_class')"
                )[0] == MARKER:
            schema_editor.execute("DROP TABLE campaign_customers")
            return
        for statement in takeover.drop_trigger_sql("campaign_customers"):
            schema_editor.execute(statement)
        schema_editor.execute("DROP INDEX IF EXISTS campaign_customers_org_idx")
        schema_editor.execute("ALTER TABLE campaign_customers DROP COLUMN IF EXISTS organization_id")


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0014_row_level_security'),
    ]

    operations = [
        # wb-crm may still be writing these (a takeover): all locks at once, no deadlock.
        LockTablesFirst("campaign_customers", "campaigns", "jobs", "job_status", "whatsapp_numbers"),
        migrations.AddField(
            model_name='campaign',
            name='scheduled_at',
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='finished_at',
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='started_at',
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='state',
            field=models.CharField(blank=True, max_length=20, null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='stop_reason',
            field=models.TextField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='jobstatus',
            name='attempts',
            field=models.SmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='jobstatus',
            name='lease_until',
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='jobstatus',
            name='reason',
            field=models.CharField(blank=True, max_length=200, null=True),
        ),
        migrations.AddField(
            model_name='jobstatus',
            name='updated_at',
            field=crm.fields.UTCDateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='jobstatus',
            name='whatsapp_number',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='crm.whatsappnumber'),
        ),
        migrations.AddField(
            model_name='whatsappnumber',
            name='messages_per_second',
            field=models.PositiveIntegerField(default=80),
        ),
        migrations.AddIndex(
            model_name='jobstatus',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['organization', 'job', 'whatsapp_number'], name='job_status_org_pending_idx'),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=STATE,
            database_operations=[EnsureCampaignCustomers()],
        ),
        # A tenant table added after crm.0014: its policies come with it.
        EnableRowLevelSecurity("campaign_customers"),
    ]
