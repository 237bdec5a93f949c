"""Recompute the roll-ups of a range from the raw rows, set-based (the triggers keep them after).

Used after the migration on a database that already holds messages, after an organization
changes its time zone (days are local), and by the tests and the benchmark. Each local day is
deleted and refilled in a transaction that first locks the roll-up tables against the
triggers' writes: a message stored meanwhile waits, then adds to the refilled rows, so each is
counted once. Messages wait about a second per day rebuilt (an organization with 8,000
messages a day): run it when the traffic is low.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import router, transaction

from crm.models import Message
from crm.reports.period import Period
from crm.reports.sql import rows

DAY = """((m."timestamp" AT TIME ZONE 'UTC') AT TIME ZONE %(tz)s)::date"""
NUMBER = """coalesce(CASE WHEN m.sender_type = 'customer' THEN m.to_wa_id ELSE m.from_wa_id END,
'')"""
DIRECTION = """CASE WHEN m.sender_type = 'customer' THEN 'in' ELSE 'out' END"""

LOCK = """LOCK TABLE daily_message_stats, response_times, campaign_funnels
IN SHARE ROW EXCLUSIVE MODE"""
DELETE = [
    """DELETE FROM daily_message_stats WHERE organization_id = %(org)s
AND day BETWEEN %(first)s AND %(last)s""",
    """DELETE FROM response_times WHERE organization_id = %(org)s
AND responded_at >= %(start)s AND responded_at < %(end)s""",
    """DELETE FROM campaign_funnels WHERE organization_id = %(org)s AND job_id IN (
SELECT id FROM jobs WHERE organization_id = %(org)s
AND created_at >= %(start)s AND created_at < %(end)s)""",
]

DAILY = f"""
INSERT INTO daily_message_stats AS d
       (organization_id, day, number, direction, category, messages, billable)
SELECT m.organization_id, {DAY}, {NUMBER}, {DIRECTION}, coalesce(m.billable_category, ''),
       count(*), count(m.billable_category)
  FROM messages m
 WHERE m.organization_id = %(org)s AND m."timestamp" >= %(start)s AND m."timestamp" < %(end)s
 GROUP BY 1, 2, 3, 4, 5
"""

RESPONSES = """
INSERT INTO response_times AS r
       (organization_id, customer_id, agent_id, waiting_since, responded_at, seconds)
SELECT DISTINCT ON (w.customer_id, w.waiting_since)
       w.organization_id, w.customer_id, w.agent_id, w.waiting_since, w.responded_at,
       floor(extract(epoch FROM w.responded_at - w.waiting_since))::int
  FROM (SELECT n.organization_id, n.customer_id, n.agent_id, n."timestamp" AS responded_at,
               (SELECT min(c."timestamp") FROM messages c
                 WHERE c.organization_id = n.organization_id AND c.customer_id = n.customer_id
                   AND c.sender_type = 'customer' AND c."timestamp" <= n."timestamp"
                   AND c."timestamp" > coalesce(
                       (SELECT max(a."timestamp") FROM messages a
                         WHERE a.organization_id = n.organization_id
                           AND a.customer_id = n.customer_id AND a.sender_type = 'agent'
                           AND a.automation_rule_id IS NULL AND a."timestamp" < n."timestamp"),
                       '-infinity')) AS waiting_since
          FROM messages n
         WHERE n.organization_id = %(org)s AND n.sender_type = 'agent'
           AND n.automation_rule_id IS NULL AND n.customer_id IS NOT NULL
           AND n."timestamp" >= %(start)s AND n."timestamp" < %(end)s) w
 WHERE w.waiting_since IS NOT NULL
 ORDER BY w.customer_id, w.waiting_since, w.responded_at
ON CONFLICT (organization_id, customer_id, waiting_since) DO NOTHING
"""

# The runs created in the range: their funnels from their messages and recipients' replies.
FUNNELS = """
WITH runs AS (SELECT id FROM jobs WHERE organization_id = %(org)s
                AND created_at >= %(start)s AND created_at < %(end)s),
statuses AS (
    SELECT m.campaign_job_id AS job_id, coalesce(m.from_wa_id, '') AS number,
           count(*) FILTER (WHERE m.delivery_status = 'sent') AS sent,
           count(*) FILTER (WHERE m.delivery_status = 'delivered') AS delivered,
           count(*) FILTER (WHERE m.delivery_status = 'read') AS read,
           count(*) FILTER (WHERE m.delivery_status = 'failed') AS failed
      FROM messages m
     WHERE m.organization_id = %(org)s AND m.campaign_job_id IN (SELECT id FROM runs)
     GROUP BY 1, 2),
replies AS (
    SELECT s.job_id, r.number, count(*) AS replied
      FROM job_status s
     CROSS JOIN LATERAL (SELECT coalesce(m.from_wa_id, '') AS number FROM messages m
                          WHERE m.organization_id = s.organization_id
                            AND m.customer_id = s.customer_id AND m.campaign_job_id = s.job_id
                          ORDER BY m."timestamp" LIMIT 1) r
     WHERE s.organization_id = %(org)s AND s.job_id IN (SELECT id FROM runs)
       AND s.replied_at IS NOT NULL
     GROUP BY 1, 2)
INSERT INTO campaign_funnels AS f
       (organization_id, job_id, number, sent, delivered, read, failed, replied)
SELECT %(org)s, coalesce(st.job_id, rp.job_id), coalesce(st.number, rp.number),
       coalesce(st.sent, 0), coalesce(st.delivered, 0), coalesce(st.read, 0),
       coalesce(st.failed, 0), coalesce(rp.replied, 0)
  FROM statuses st FULL JOIN replies rp ON rp.job_id = st.job_id AND rp.number = st.number
"""


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild refilled."""

    days: int
    runs: int


def rebuild(period: Period) -> Rebuilt:
    """Recompute the active organization's roll-ups of `period` from its raw rows, a day per
    transaction (messages wait for one day's rebuild at a time, never the whole range's)."""
    runs = 0
    for day in period.days:
        one = Period(day, day, period.time_zone)
        params = {"first": day, "last": day, "start": one.start, "end": one.end,
                  "tz": period.time_zone}
        with transaction.atomic(using=router.db_for_write(Message)):
            for statement in (LOCK, *DELETE):
                rows(statement, params)
            rows(DAILY, params)
            rows(RESPONSES, params)
            rows(FUNNELS, params)
            runs += rows("SELECT count(*) FROM jobs WHERE organization_id = %(org)s "
                         "AND created_at >= %(start)s AND created_at < %(end)s", params)[0][0]
    return Rebuilt(days=len(period.days), runs=runs)
