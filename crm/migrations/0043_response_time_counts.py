"""First-reply percentiles of any range from counts: response_time_counts, kept by a trigger.

A year of first replies is a million rows to sort for `percentile_cont` (3.7 s on the reports
benchmark); the dashboard must answer any range within 300 ms. The seconds of a reply are whole
(response_times.seconds), so a count per local day, agent and number of seconds holds every
value: crm.reports.distribution computes the same percentiles from the counts, exactly, reading
a few thousand rows for a year.

A statement trigger on response_times (transition tables; in key order, as crm.0032's) adds
what each statement inserted and subtracts what it deleted, so the roll-up rebuild
(crm.reports.rollups: it deletes and refills response_times) and erasure keep the counts right
with no code of their own. The counts of existing replies are filled here, one organization per
statement, with response_times locked against writers from the trigger's creation to the end
of the migration so no reply is counted twice.
"""
import crm.fields
import django.db.models.deletion
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity

PARENTS = []
KEYS = []

FUNCTIONS = r"""
CREATE FUNCTION public.wbcrm_response_counts_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.response_time_counts AS c (organization_id, day, agent_id, seconds, replies)
    SELECT r.organization_id,
           ((r.responded_at AT TIME ZONE 'UTC') AT TIME ZONE o.time_zone)::date,
           coalesce(r.agent_id, ''), r.seconds, count(*)
      FROM new_rows r JOIN public.organizations o ON o.id = r.organization_id
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (organization_id, day, agent_id, seconds) DO UPDATE
       SET replies = c.replies + excluded.replies;
    RETURN NULL;
END
$$;

CREATE FUNCTION public.wbcrm_response_counts_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE public.response_time_counts c SET replies = c.replies - gone.replies
      FROM (SELECT r.organization_id,
                   ((r.responded_at AT TIME ZONE 'UTC') AT TIME ZONE o.time_zone)::date AS day,
                   coalesce(r.agent_id, '') AS agent_id, r.seconds, count(*) AS replies
              FROM old_rows r JOIN public.organizations o ON o.id = r.organization_id
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4) gone
     WHERE c.organization_id = gone.organization_id AND c.day = gone.day
       AND c.agent_id = gone.agent_id AND c.seconds = gone.seconds;
    RETURN NULL;
END
$$;

CREATE TRIGGER response_times_counts_inserted AFTER INSERT ON public.response_times
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION public.wbcrm_response_counts_inserted();
CREATE TRIGGER response_times_counts_deleted AFTER DELETE ON public.response_times
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION public.wbcrm_response_counts_deleted();
"""
DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS response_times_counts_deleted ON public.response_times;
DROP TRIGGER IF EXISTS response_times_counts_inserted ON public.response_times;
DROP FUNCTION IF EXISTS public.wbcrm_response_counts_deleted();
DROP FUNCTION IF EXISTS public.wbcrm_response_counts_inserted();
"""
# Each organization's existing replies, counted as the trigger counts new ones. The policies
# bind the migrating role too: the statement runs as that organization.
COUNT_EXISTING = r"""
INSERT INTO public.response_time_counts AS c (organization_id, day, agent_id, seconds, replies)
SELECT r.organization_id, ((r.responded_at AT TIME ZONE 'UTC') AT TIME ZONE o.time_zone)::date,
       coalesce(r.agent_id, ''), r.seconds, count(*)
  FROM public.response_times r JOIN public.organizations o ON o.id = r.organization_id
 WHERE r.organization_id = %s
 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (organization_id, day, agent_id, seconds) DO UPDATE
   SET replies = c.replies + excluded.replies
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("ALTER TABLE response_time_counts ALTER COLUMN organization_id SET NOT NULL")
        cursor.execute("LOCK TABLE response_times IN SHARE MODE")  # until the migration commits
        cursor.execute(FUNCTIONS)
        cursor.execute("SELECT id FROM organizations ORDER BY id")
        for (organization,) in cursor.fetchall():
            cursor.execute("SELECT set_config('wbcrm.organization_id', %s, true)",
                           [str(organization)])
            cursor.execute(COUNT_EXISTING, [organization])
        cursor.execute("SELECT set_config('wbcrm.organization_id', '', true)")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTIONS)


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0042_job_status_claim_order'),
    ]

    operations = [
        migrations.CreateModel(
            name='ResponseTimeCount',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('day', models.DateField(help_text="The reply's day in the organization's time zone.")),
                ('agent_id', crm.fields.VarCharField(blank=True, default='', help_text="'' for replies with no agent.")),
                ('seconds', models.IntegerField()),
                ('replies', models.IntegerField(default=0)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.organization')),
            ],
            options={
                'db_table': 'response_time_counts',
                'ordering': ['-day', 'agent_id', 'seconds'],
                'constraints': [models.UniqueConstraint(fields=('organization', 'day', 'agent_id', 'seconds'), name='response_time_counts_key')],
            },
        ),
        EnableRowLevelSecurity("response_time_counts", version=2),
        migrations.RunPython(install, uninstall),
    ]
