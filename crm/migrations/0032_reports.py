"""Reports: message pricing, and roll-ups kept by triggers on `messages` (PostgreSQL).

New columns: messages.pricing, .conversation, .billable_category (Meta's status webhooks) and
.campaign_job_id (the run that sent it; no key, like automation_rule_id); job_status.replied_at.
New tenant tables (row-level security; organization_id NOT NULL; their keys to jobs and
customers carry no constraint, so a trigger never refuses a message): daily_message_stats,
campaign_funnels, response_times.

Two statement-level triggers read the rows each statement inserted or updated (transition
tables) and upsert the roll-ups set-based, in key order: messages per local day (the
organization's time zone), business number, direction and billable category; a campaign run's
messages per sending number by the status each has now; recipients who wrote within 24 hours of
a run's message (job_status.replied_at, counted once); and the first human reply to a waiting
customer (response_times). They run as the caller, under the same policies. The SQL lives here,
frozen; `crm.reports.rollups.rebuild` recomputes a range from the raw rows the same way.
Existing rows are not rolled up here (the tables start empty): run `manage.py
rebuild_report_stats` after the migration on a database that holds messages.
"""
import crm.fields
import django.db.models.deletion
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity, LockTablesFirst

# No same-tenant keys (see above); organization_id is NOT NULL from the start.
PARENTS = []
KEYS = []
NEW_TABLES = ["daily_message_stats", "campaign_funnels", "response_times"]
NOT_NULL = [f"ALTER TABLE {table} ALTER COLUMN organization_id SET NOT NULL" for table in NEW_TABLES]
NULLABLE = [f"ALTER TABLE {table} ALTER COLUMN organization_id DROP NOT NULL" for table in NEW_TABLES]

FUNCTIONS = r"""
CREATE FUNCTION public.wbcrm_reports_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.daily_message_stats AS d
           (organization_id, day, number, direction, category, messages, billable)
    SELECT n.organization_id,
           ((n."timestamp" AT TIME ZONE 'UTC') AT TIME ZONE o.time_zone)::date,
           coalesce(CASE WHEN n.sender_type = 'customer' THEN n.to_wa_id ELSE n.from_wa_id END, ''),
           CASE WHEN n.sender_type = 'customer' THEN 'in' ELSE 'out' END,
           coalesce(n.billable_category, ''), count(*), count(n.billable_category)
      FROM new_rows n JOIN public.organizations o ON o.id = n.organization_id
     WHERE n."timestamp" IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (organization_id, day, number, direction, category) DO UPDATE
       SET messages = d.messages + excluded.messages, billable = d.billable + excluded.billable;

    INSERT INTO public.campaign_funnels AS f
           (organization_id, job_id, number, sent, delivered, read, failed, replied)
    SELECT n.organization_id, n.campaign_job_id, coalesce(n.from_wa_id, ''),
           count(*) FILTER (WHERE n.delivery_status = 'sent'),
           count(*) FILTER (WHERE n.delivery_status = 'delivered'),
           count(*) FILTER (WHERE n.delivery_status = 'read'),
           count(*) FILTER (WHERE n.delivery_status = 'failed'), 0
      FROM new_rows n
     WHERE n.campaign_job_id IS NOT NULL AND n.organization_id IS NOT NULL
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (organization_id, job_id, number) DO UPDATE
       SET sent = f.sent + excluded.sent, delivered = f.delivered + excluded.delivered,
           read = f.read + excluded.read, failed = f.failed + excluded.failed;

    -- A customer's message within 24 hours after a run's (delivered or not failed) message:
    -- that recipient replied, counted once per run.
    WITH replies AS (
        SELECT DISTINCT ON (m.campaign_job_id, n.customer_id)
               n.organization_id, m.campaign_job_id AS job_id, n.customer_id,
               coalesce(m.from_wa_id, '') AS number, n."timestamp" AS replied_at
          FROM new_rows n
          JOIN public.messages m
            ON m.organization_id = n.organization_id AND m.customer_id = n.customer_id
           AND m.campaign_job_id IS NOT NULL AND m.delivery_status <> 'failed'
           AND m."timestamp" <= n."timestamp"
           AND m."timestamp" > n."timestamp" - interval '24 hours'
         WHERE n.sender_type = 'customer' AND n."timestamp" IS NOT NULL
         ORDER BY m.campaign_job_id, n.customer_id, n."timestamp"
    ), marked AS (
        UPDATE public.job_status s SET replied_at = r.replied_at
          FROM replies r
         WHERE s.organization_id = r.organization_id AND s.job_id = r.job_id
           AND s.customer_id = r.customer_id AND s.replied_at IS NULL
        RETURNING s.organization_id, s.job_id, r.number
    )
    INSERT INTO public.campaign_funnels AS f
           (organization_id, job_id, number, sent, delivered, read, failed, replied)
    SELECT organization_id, job_id, number, 0, 0, 0, 0, count(*) FROM marked
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (organization_id, job_id, number) DO UPDATE SET replied = f.replied + excluded.replied;

    -- A human reply (not automation's) to a customer who wrote since the last one.
    INSERT INTO public.response_times AS r
           (organization_id, customer_id, agent_id, waiting_since, responded_at, seconds)
    SELECT w.organization_id, w.customer_id, w.agent_id, w.waiting_since, w.responded_at,
           floor(extract(epoch FROM w.responded_at - w.waiting_since))::int
      FROM (SELECT n.organization_id, n.customer_id, n.agent_id, n."timestamp" AS responded_at,
                   (SELECT min(c."timestamp") FROM public.messages c
                     WHERE c.organization_id = n.organization_id AND c.customer_id = n.customer_id
                       AND c.sender_type = 'customer' AND c."timestamp" <= n."timestamp"
                       AND c."timestamp" > coalesce(
                           (SELECT max(a."timestamp") FROM public.messages a
                             WHERE a.organization_id = n.organization_id
                               AND a.customer_id = n.customer_id AND a.sender_type = 'agent'
                               AND a.automation_rule_id IS NULL AND a."timestamp" < n."timestamp"),
                           '-infinity')) AS waiting_since
              FROM new_rows n
             WHERE n.sender_type = 'agent' AND n.automation_rule_id IS NULL
               AND n.customer_id IS NOT NULL AND n."timestamp" IS NOT NULL) w
     WHERE w.waiting_since IS NOT NULL
     ORDER BY 1, 2, 4
    ON CONFLICT (organization_id, customer_id, waiting_since) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION public.wbcrm_reports_updated() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Meta priced a message (or changed its category): billable under the new category.
    INSERT INTO public.daily_message_stats AS d
           (organization_id, day, number, direction, category, messages, billable)
    SELECT n.organization_id,
           ((n."timestamp" AT TIME ZONE 'UTC') AT TIME ZONE org.time_zone)::date,
           coalesce(CASE WHEN n.sender_type = 'customer' THEN n.to_wa_id ELSE n.from_wa_id END, ''),
           CASE WHEN n.sender_type = 'customer' THEN 'in' ELSE 'out' END,
           x.category, 0, sum(x.delta)
      FROM new_rows n JOIN old_rows o ON o.id = n.id
      JOIN public.organizations org ON org.id = n.organization_id
     CROSS JOIN LATERAL (VALUES (n.billable_category, 1), (o.billable_category, -1))
           AS x (category, delta)
     WHERE n.billable_category IS DISTINCT FROM o.billable_category
       AND x.category IS NOT NULL AND n."timestamp" IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (organization_id, day, number, direction, category) DO UPDATE
       SET billable = d.billable + excluded.billable;

    -- A run's message moved from one status to another (forward only, see the webhook).
    INSERT INTO public.campaign_funnels AS f
           (organization_id, job_id, number, sent, delivered, read, failed, replied)
    SELECT n.organization_id, n.campaign_job_id, coalesce(n.from_wa_id, ''),
           sum((n.delivery_status IS NOT DISTINCT FROM 'sent')::int
               - (o.delivery_status IS NOT DISTINCT FROM 'sent')::int),
           sum((n.delivery_status IS NOT DISTINCT FROM 'delivered')::int
               - (o.delivery_status IS NOT DISTINCT FROM 'delivered')::int),
           sum((n.delivery_status IS NOT DISTINCT FROM 'read')::int
               - (o.delivery_status IS NOT DISTINCT FROM 'read')::int),
           sum((n.delivery_status IS NOT DISTINCT FROM 'failed')::int
               - (o.delivery_status IS NOT DISTINCT FROM 'failed')::int), 0
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE n.campaign_job_id IS NOT NULL AND n.organization_id IS NOT NULL
       AND n.delivery_status IS DISTINCT FROM o.delivery_status
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (organization_id, job_id, number) DO UPDATE
       SET sent = f.sent + excluded.sent, delivered = f.delivered + excluded.delivered,
           read = f.read + excluded.read, failed = f.failed + excluded.failed;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_reports_inserted AFTER INSERT ON public.messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION public.wbcrm_reports_inserted();
CREATE TRIGGER messages_reports_updated AFTER UPDATE ON public.messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION public.wbcrm_reports_updated();
"""
DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS messages_reports_updated ON public.messages;
DROP TRIGGER IF EXISTS messages_reports_inserted ON public.messages;
DROP FUNCTION IF EXISTS public.wbcrm_reports_updated();
DROP FUNCTION IF EXISTS public.wbcrm_reports_inserted();
"""


def _run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)  # the SQL holds % signs
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0031_contacts_import'),
    ]

    operations = [
        # wb-crm may still be writing these (a takeover): all locks at once, no deadlock.
        LockTablesFirst("customers", "messages", "job_status"),
        migrations.CreateModel(
            name='CampaignFunnel',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('number', crm.fields.VarCharField(blank=True, default='', help_text="The sending number's digits.")),
                ('sent', models.IntegerField(default=0, help_text='Accepted by Meta, not delivered yet.')),
                ('delivered', models.IntegerField(default=0, help_text='Delivered, not read yet.')),
                ('read', models.IntegerField(default=0)),
                ('failed', models.IntegerField(default=0)),
                ('replied', models.IntegerField(default=0, help_text='Recipients who wrote within 24 hours.')),
            ],
            options={
                'db_table': 'campaign_funnels',
                'ordering': ['job', 'number'],
            },
        ),
        migrations.CreateModel(
            name='DailyMessageStat',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('day', models.DateField(help_text="The day in the organization's time zone.")),
                ('number', crm.fields.VarCharField(blank=True, default='', help_text="The business number's digits.")),
                ('direction', models.CharField(choices=[('in', 'In'), ('out', 'Out')], max_length=3)),
                ('category', crm.fields.VarCharField(blank=True, default='')),
                ('messages', models.IntegerField(default=0)),
                ('billable', models.IntegerField(default=0)),
            ],
            options={
                'db_table': 'daily_message_stats',
                'ordering': ['-day', 'number', 'direction', 'category'],
            },
        ),
        migrations.CreateModel(
            name='ResponseTime',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('agent_id', crm.fields.VarCharField(blank=True, help_text='messages.agent_id of the reply.', null=True)),
                ('waiting_since', crm.fields.UTCDateTimeField(help_text='The first customer message not answered yet.')),
                ('responded_at', crm.fields.UTCDateTimeField()),
                ('seconds', models.IntegerField()),
            ],
            options={
                'db_table': 'response_times',
                'ordering': ['-responded_at'],
            },
        ),
        migrations.AddField(
            model_name='jobstatus',
            name='replied_at',
            field=crm.fields.UTCDateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='message',
            name='billable_category',
            field=crm.fields.VarCharField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='message',
            name='campaign_job',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.job'),
        ),
        migrations.AddField(
            model_name='message',
            name='conversation',
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='message',
            name='pricing',
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(condition=models.Q(('campaign_job__isnull', False)), fields=['organization', 'campaign_job', 'delivery_status'], include=('error_code',), name='messages_org_campaign_job_idx'),
        ),
        migrations.AddField(
            model_name='campaignfunnel',
            name='job',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.job'),
        ),
        migrations.AddField(
            model_name='campaignfunnel',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.AddField(
            model_name='dailymessagestat',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.AddField(
            model_name='responsetime',
            name='customer',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.customer'),
        ),
        migrations.AddField(
            model_name='responsetime',
            name='organization',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization'),
        ),
        migrations.AddConstraint(
            model_name='campaignfunnel',
            constraint=models.UniqueConstraint(fields=('organization', 'job', 'number'), name='campaign_funnels_key'),
        ),
        migrations.AddConstraint(
            model_name='dailymessagestat',
            constraint=models.UniqueConstraint(fields=('organization', 'day', 'number', 'direction', 'category'), name='daily_message_stats_key'),
        ),
        migrations.AddIndex(
            model_name='responsetime',
            index=models.Index(fields=['organization', 'responded_at'], include=('agent_id', 'seconds'), name='response_times_org_at_idx'),
        ),
        migrations.AddConstraint(
            model_name='responsetime',
            constraint=models.UniqueConstraint(fields=('organization', 'customer', 'waiting_since'), name='response_times_key'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(condition=models.Q(('last_inbound_at__isnull', False), models.Q(('last_message_at__isnull', True), ('last_inbound_at__gte', models.F('last_message_at')), _connector='OR')), fields=['organization'], name='customers_org_waiting_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(condition=models.Q(('marketing_opt_out_at__isnull', False)), fields=['organization', 'marketing_opt_out_at'], name='customers_org_opted_out_idx'),
        ),
        EnableRowLevelSecurity("daily_message_stats", version=2),
        EnableRowLevelSecurity("campaign_funnels", version=2),
        EnableRowLevelSecurity("response_times", version=2),
        migrations.RunPython(_run_on_postgresql([*NOT_NULL, FUNCTIONS]),
                             _run_on_postgresql([DROP_FUNCTIONS, *NULLABLE])),
    ]
