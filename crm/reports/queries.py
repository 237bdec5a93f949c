"""The dashboard's figures (selectors), read from the roll-ups and small indexed ranges.

Every figure of a period reads its organization's roll-ups (daily_message_stats,
response_time_counts, campaign_funnels) or an index range of one table (new customers, referrals,
conversation_resolutions), never every message. Days are the organization's local days (see
crm.reports.period).
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from crm.models import User
from crm.reports import distribution
from crm.reports.period import Period
from crm.reports.sql import rows

LOCAL_DAY = """((%s AT TIME ZONE 'UTC') AT TIME ZONE %%(tz)s)::date"""


def _params(period: Period) -> dict[str, Any]:
    return {"first": period.first, "last": period.last, "start": period.start,
            "end": period.end, "tz": period.time_zone}


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def messages_per_day(period: Period) -> dict[str, dict[str, int]]:
    """Messages in and out per local day (every day of the period, zeros included)."""
    days = {day.isoformat(): {"in": 0, "out": 0} for day in period.days}
    for day, direction, count in rows(
        "SELECT day, direction, sum(messages) FROM daily_message_stats "
        "WHERE organization_id = %(org)s AND day BETWEEN %(first)s AND %(last)s "
        "GROUP BY 1, 2", _params(period),
    ):
        days[day.isoformat()][direction] = int(count)
    return days


def new_customers_per_day(period: Period) -> dict[str, int]:
    """Customers created per local day (customers_org_created_idx)."""
    days = {day.isoformat(): 0 for day in period.days}
    for day, count in rows(
        f"SELECT {LOCAL_DAY % 'created_at'}, count(*) FROM customers "
        "WHERE organization_id = %(org)s AND created_at >= %(start)s AND created_at < %(end)s "
        "GROUP BY 1", _params(period),
    ):
        days[day.isoformat()] = count
    return days


def waiting_now() -> int:
    """Conversations whose latest message is the customer's (crm.inbox.queries.is_waiting)."""
    return rows(
        "SELECT count(*) FROM customers WHERE organization_id = %(org)s "
        "AND last_inbound_at IS NOT NULL "
        "AND (last_message_at IS NULL OR last_inbound_at >= last_message_at)"
    )[0][0]


COUNTED = ("SELECT agent_id, seconds, sum(replies) FROM response_time_counts "
           "WHERE organization_id = %(org)s AND day BETWEEN %(first)s AND %(last)s")
PERCENTILES = ("count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds), "
               "percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)")


def _figures(counts: list[tuple[int, int]]) -> dict[str, Any]:
    return {"responses": sum(many for _, many in counts),
            "median_seconds": _seconds(distribution.percentile(counts, 0.5)),
            "p90_seconds": _seconds(distribution.percentile(counts, 0.9))}


def agents(period: Period, agent_id: str | None = None) -> dict[str, Any]:
    """First human replies answered and conversations resolved in the period, per agent and
    overall (counts, median and p90 seconds); only `agent_id`'s when given. Replies from their
    counts per day, agent and seconds (response_time_counts: the same figures as
    percentile_cont over response_times, exactly); resolutions from their covering index."""
    only = " AND agent_id = %(agent)s" if agent_id is not None else ""
    counted: dict[str | None, list[tuple[int, int]]] = {}
    for agent, seconds, replies in rows(
            f"{COUNTED}{only} GROUP BY agent_id, seconds HAVING sum(replies) > 0 ORDER BY 1, 2",
            {**_params(period), "agent": agent_id}):
        counted.setdefault(agent or None, []).append((seconds, int(replies)))  # '': no agent
    by_agent = {agent: {"agent_id": agent, **_figures(counts)}
                for agent, counts in counted.items()}
    resolved_overall, resolved = resolutions(period, agent_id)
    for agent in resolved:
        by_agent.setdefault(agent, {"agent_id": agent, **_figures([])})
    per_agent = [by_agent[agent] for agent in sorted(by_agent, key=lambda a: (a is None, a))]
    names = {str(user.pk): user.get_username() for user in User.objects.filter(
        pk__in=[row["agent_id"] for row in per_agent if _is_uuid(row["agent_id"])])}
    for row in per_agent:
        row["name"] = names.get(row["agent_id"] or "")
        row["resolution"] = resolved.get(row["agent_id"], _resolved(0, None, None))
    return {"from": period.first.isoformat(), "to": period.last.isoformat(),
            "agents": per_agent, "overall": _figures(distribution.merged(counted.values())),
            "resolution": resolved_overall}


RESOLVED = ("FROM conversation_resolutions WHERE organization_id = %(org)s "
            "AND resolved_at >= %(start)s AND resolved_at < %(end)s")


def _resolved(count: int, median: float | None, p90: float | None) -> dict[str, Any]:
    return {"resolved": count, "median_seconds": _seconds(median), "p90_seconds": _seconds(p90)}


def resolutions(period: Period, agent_id: str | None = None
                ) -> tuple[dict[str, Any], dict[str | None, dict[str, Any]]]:
    """Resolution time of the conversations resolved in the period (crm.reports.resolutions):
    overall and per assignee at resolution (count, median and p90 seconds); only `agent_id`'s
    when given."""
    only = " AND agent_id = %(agent)s" if agent_id is not None else ""
    params = {**_params(period), "agent": agent_id}
    overall = _resolved(*rows(f"SELECT {PERCENTILES} {RESOLVED}{only}", params, sorts=True)[0])
    per_agent = {None if agent is None else str(agent): _resolved(count, median, p90)
                 for agent, count, median, p90 in rows(
                     f"SELECT agent_id, {PERCENTILES} {RESOLVED}{only} GROUP BY 1", params,
                     sorts=True)}
    return overall, per_agent


def _is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def overview(period: Period) -> dict[str, Any]:
    """Messages per day, new customers per day, waiting now, first response and resolution
    time."""
    messages = messages_per_day(period)
    customers = new_customers_per_day(period)
    team = agents(period)
    days = [{"day": day, "in": counts["in"], "out": counts["out"],
             "new_customers": customers[day]} for day, counts in messages.items()]
    return {
        "from": period.first.isoformat(), "to": period.last.isoformat(),
        "time_zone": period.time_zone,
        "days": days,
        "totals": {key: sum(day[key] for day in days) for key in ("in", "out", "new_customers")},
        "waiting_now": waiting_now(),
        "first_response": team["overall"],
        "resolution": team["resolution"],
    }


def funnel_row(sent: int, delivered: int, read: int, failed: int, replied: int) -> dict[str, int]:
    """A funnel from the counts of messages by their status now (see CampaignFunnel)."""
    return {"sent": sent + delivered + read, "delivered": delivered + read, "read": read,
            "failed": failed, "replied": replied}


def campaigns(period: Period) -> dict[str, Any]:
    """The funnel of each campaign with a run created in the period."""
    found = rows(
        "SELECT c.id, c.name, count(DISTINCT j.id), coalesce(sum(f.sent), 0), "
        "coalesce(sum(f.delivered), 0), coalesce(sum(f.read), 0), coalesce(sum(f.failed), 0), "
        "coalesce(sum(f.replied), 0) FROM jobs j JOIN campaigns c "
        "ON c.organization_id = j.organization_id AND c.id = j.campaign_id "
        "LEFT JOIN campaign_funnels f ON f.organization_id = j.organization_id "
        "AND f.job_id = j.id WHERE j.organization_id = %(org)s AND j.created_at >= %(start)s "
        "AND j.created_at < %(end)s GROUP BY c.id, c.name ORDER BY c.name, c.id",
        _params(period),
    )
    return {"from": period.first.isoformat(), "to": period.last.isoformat(), "campaigns": [
        {"id": str(pk), "name": name, "runs": runs,
         **funnel_row(int(sent), int(delivered), int(read), int(failed), int(replied))}
        for pk, name, runs, sent, delivered, read, failed, replied in found
    ]}


def referrals(period: Period) -> dict[str, Any]:
    """Click-to-WhatsApp ads and posts that started conversations: customers, leads, orders."""
    found = rows(
        "WITH r AS (SELECT DISTINCT ON (customer_id, source_type, source_id) customer_id, "
        "coalesce(source_type, '') AS source_type, coalesce(source_id, '') AS source_id, "
        "headline, created_at FROM referrer_tracking WHERE organization_id = %(org)s "
        "AND created_at >= %(start)s AND created_at < %(end)s AND customer_id IS NOT NULL "
        "ORDER BY customer_id, source_type, source_id, created_at) "
        "SELECT r.source_type, r.source_id, max(r.headline), count(*), "
        "count(*) FILTER (WHERE EXISTS (SELECT 1 FROM leads l WHERE l.organization_id = "
        "%(org)s AND l.customer_id = r.customer_id AND l.created_at >= r.created_at)), "
        "count(*) FILTER (WHERE EXISTS (SELECT 1 FROM orders o WHERE o.organization_id = "
        "%(org)s AND o.customer_id = r.customer_id AND o.timestamp >= r.created_at)), "
        "count(*) FILTER (WHERE EXISTS (SELECT 1 FROM orders o WHERE o.organization_id = "
        "%(org)s AND o.customer_id = r.customer_id AND o.timestamp >= r.created_at "
        "AND o.payment_completed_at IS NOT NULL)) "
        "FROM r GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2",
        _params(period),
    )
    return {"from": period.first.isoformat(), "to": period.last.isoformat(), "sources": [
        {"source_type": kind or None, "source_id": source or None, "headline": headline,
         "customers": customers, "leads": leads, "ordered": ordered, "paid": paid}
        for kind, source, headline, customers, leads, ordered, paid in found
    ]}


def usage(month: Period) -> dict[str, Any]:
    """Billable messages of the month by Meta's category, and all messages in and out."""
    billable: dict[str, int] = defaultdict(int)
    totals = {"in": 0, "out": 0}
    for direction, category, messages, billed in rows(
        "SELECT direction, category, sum(messages), sum(billable) FROM daily_message_stats "
        "WHERE organization_id = %(org)s AND day BETWEEN %(first)s AND %(last)s "
        "GROUP BY 1, 2", _params(month),
    ):
        totals[direction] += int(messages)
        if category and billed:
            billable[category] += int(billed)
    return {"month": month.first.strftime("%Y-%m"), "time_zone": month.time_zone,
            "billable": dict(sorted(billable.items())), "billable_total": sum(billable.values()),
            "messages": totals}
