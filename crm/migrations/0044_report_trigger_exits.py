"""Report triggers run only the roll-up statements a statement's rows can change.

crm.0032's statement triggers on `messages` ran every roll-up statement for every INSERT and
UPDATE. A campaign send inserts one outbound message, yet it also ran the reply statement (a
join to messages and an UPDATE of job_status) and the first-response INSERT into
response_times, which fires crm.0043's trigger, all for no rows: the trigger took 0.29 ms of
PostgreSQL per send, half of it for those two (`bench/campaigns.py --outcomes 1000`). Now one
pass over the transition table decides which statements can find a row (a timestamp for the
daily counts, a run for its funnel, a customer's message for replies, a human reply for
response times) and only those run: 0.14 ms per send. An UPDATE that moves no delivery status
of a run's message and changes no billable category (a media type, an edit, erasure, the
status of a message not from a run) runs none. The statements are crm.0032's, unchanged, so
every roll-up stays what SQL over the raw rows gives. Functions only: no table is locked.
"""
import importlib

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION public.wbcrm_reports_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- Whether some new row can count in each roll-up (NULL when the statement inserted none).
    dated boolean;
    from_runs boolean;
    customers_wrote boolean;
    agents_replied boolean;
BEGIN
    SELECT bool_or(n."timestamp" IS NOT NULL),
           bool_or(n.campaign_job_id IS NOT NULL AND n.organization_id IS NOT NULL),
           bool_or(n.sender_type = 'customer' AND n."timestamp" IS NOT NULL),
           bool_or(n.sender_type = 'agent' AND n.automation_rule_id IS NULL
                   AND n.customer_id IS NOT NULL AND n."timestamp" IS NOT NULL)
      INTO dated, from_runs, customers_wrote, agents_replied
      FROM new_rows n;

    IF dated THEN
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
    END IF;

    IF from_runs THEN
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
    END IF;

    IF customers_wrote THEN
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
    END IF;

    IF agents_replied THEN
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
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION public.wbcrm_reports_updated() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- Whether some row changed what a roll-up counts (NULL when the statement updated none).
    priced boolean;
    moved boolean;
BEGIN
    SELECT bool_or(n.billable_category IS DISTINCT FROM o.billable_category
                   AND n."timestamp" IS NOT NULL),
           bool_or(n.delivery_status IS DISTINCT FROM o.delivery_status
                   AND n.campaign_job_id IS NOT NULL AND n.organization_id IS NOT NULL)
      INTO priced, moved
      FROM new_rows n JOIN old_rows o ON o.id = n.id;

    IF priced THEN
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
    END IF;

    IF moved THEN
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
    END IF;
    RETURN NULL;
END
$$;
"""


def _crm_0032_functions() -> str:
    """crm.0032's two functions as it created them (its frozen SQL), to put back."""
    reports = importlib.import_module("crm.migrations.0032_reports")
    functions = reports.FUNCTIONS.split("CREATE TRIGGER")[0]
    return functions.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS, params=None)  # the SQL holds % signs


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_crm_0032_functions(), params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0043_response_time_counts'),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
