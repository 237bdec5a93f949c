"""Report roll-ups: kept by triggers as messages and statuses arrive, equal to SQL over the raw
rows, rebuilt the same, and never mixing organizations (the Python scope off too)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.core.management.base import CommandError

from crm.models import (
    CampaignFunnel,
    Customer,
    DailyMessageStat,
    JobStatus,
    Message,
    ResponseTime,
    ResponseTimeCount,
)
from crm.reports import queries, rollups
from crm.reports.period import Period
from crm.reports.pricing import billable_category
from crm.webhooks.parsing import parse_payload
from crm.webhooks.statuses import apply_status
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import (
    AutomationRuleFactory,
    CustomerFactory,
    MessageFactory,
    ResponseTimeFactory,
)
from tests.reports_support import (
    MARKETING,
    NUMBER,
    OTHER_NUMBER,
    build,
    percentile,
    raw_billable,
    raw_campaign,
    raw_first_responses,
    raw_messages_per_day,
)

pytestmark = pytest.mark.usefixtures("python_scope")
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30), "Asia/Kolkata")


@pytest.fixture
def both(org_a, org_b):
    """The same scenario in A and B: any figure of B's entering A's would double it."""
    return build(org_a), build(org_b)


def test_messages_per_day_equal_sql_over_messages(both) -> None:
    for scenario in both:
        with tenant_context(scenario.org):
            found = {day: counts for day, counts in queries.messages_per_day(NOVEMBER).items()
                     if counts != {"in": 0, "out": 0}}
            assert found == raw_messages_per_day(scenario.org)
            # 23:30 in Kolkata and 50 minutes later are two local days.
            assert set(found) >= {"2026-11-10", "2026-11-11"}


def test_usage_counts_billable_messages_by_category(both) -> None:
    for scenario in both:
        with tenant_context(scenario.org):
            usage = queries.usage(NOVEMBER)
            expected = {"marketing": 4, "utility": 1}
            assert usage["billable"] == raw_billable(scenario.org) == expected
            assert usage["billable_total"] == 5
            assert usage["messages"]["in"] + usage["messages"]["out"] == Message.objects.count()


def test_first_responses_equal_a_walk_over_the_raw_messages(both) -> None:
    for scenario in both:
        with tenant_context(scenario.org):
            raw = raw_first_responses(scenario.org)
            assert sorted(seconds for _, seconds in raw) == [600, 1800, 4200]
            figures = queries.agents(NOVEMBER)
            seconds = [s for _, s in raw]
            assert figures["overall"] == {"responses": 3,
                                          "median_seconds": percentile(seconds, 0.5),
                                          "p90_seconds": percentile(seconds, 0.9)}
            by_agent = {row["agent_id"]: row for row in figures["agents"]}
            for agent in scenario.agents:
                mine = [s for a, s in raw if a == str(agent.pk)]
                assert by_agent[str(agent.pk)]["responses"] == len(mine)
                assert by_agent[str(agent.pk)]["median_seconds"] == percentile(mine, 0.5)
                assert by_agent[str(agent.pk)]["name"] == agent.username
            only = queries.agents(NOVEMBER, str(scenario.agents[1].pk))
            assert [row["agent_id"] for row in only["agents"]] == [str(scenario.agents[1].pk)]


def test_campaign_funnels_follow_statuses_and_replies(both) -> None:
    for scenario in both:
        with tenant_context(scenario.org):
            raw = raw_campaign(scenario.job)
            funnels = CampaignFunnel.objects.filter(job=scenario.job)
            total = queries.funnel_row(*(sum(getattr(f, name) for f in funnels) for name in
                                         ("sent", "delivered", "read", "failed", "replied")))
            assert total == {key: raw[key] for key in total}
            assert total == {"sent": 3, "delivered": 2, "read": 1, "failed": 2, "replied": 1}
            assert JobStatus.objects.filter(replied_at__isnull=False).count() == 1


def _snapshot() -> tuple[object, ...]:
    """The active organization's roll-ups (daily counts summed over categories per day)."""
    daily = sorted(DailyMessageStat.objects.values_list(
        "day", "number", "direction", "category", "messages", "billable"))
    per_day: dict[tuple[object, ...], list[int]] = {}
    for day, number, direction, _, messages, billable in daily:
        key = (day, number, direction)
        per_day[key] = [a + b for a, b in zip(per_day.get(key, [0, 0]), [messages, billable])]
    return (per_day, sorted(ResponseTime.objects.values_list(
        "customer", "waiting_since", "responded_at", "agent_id", "seconds")),
        sorted(CampaignFunnel.objects.values_list(
            "job", "number", "sent", "delivered", "read", "failed", "replied")))


def test_a_rebuild_gives_what_the_triggers_kept(both) -> None:
    scenario = both[0]
    with tenant_context(scenario.org):
        kept = _snapshot()
        DailyMessageStat.objects.update(messages=99)
        ResponseTime.objects.all().delete()
        rebuilt = rollups.rebuild(Period(date(2026, 11, 9), date(2026, 11, 13), "Asia/Kolkata"))
        assert rebuilt.runs == 1
        assert _snapshot() == kept
        ResponseTime.objects.all().delete()
    out = StringIO()
    call_command("rebuild_report_stats", "--organization", scenario.org.code,
                 "--from", "2026-11-09", "--to", "2026-11-13", stdout=out)
    assert "5 day(s)" in out.getvalue() and "1 campaign run(s)" in out.getvalue()
    with tenant_context(scenario.org):
        assert _snapshot() == kept
    with pytest.raises(CommandError, match="from"):
        call_command("rebuild_report_stats", "--from", "someday")


def test_statements_of_many_rows_of_every_kind_keep_every_roll_up(both) -> None:
    """One INSERT of an inbound message, a human and an automated reply, a run's messages and a
    row without a time; then a recipient's reply, and UPDATEs of several rows at once, of no
    counted column and of no row. The triggers run only the roll-up statements some row can
    change (crm.0044); every figure stays what a rebuild from the raw rows gives."""
    scenario = both[0]
    at = datetime(2026, 11, 12, 6, 0, tzinfo=timezone.utc)
    with tenant_context(scenario.org):
        customer, sent_to, failed_for = CustomerFactory.create_batch(3)
        for recipient in (sent_to, failed_for):
            JobStatus.objects.create(job=scenario.job, customer=recipient, status="success",
                                     updated_at=at)

        def row(minutes: float | None, customer: Customer, **fields: object) -> Message:
            when = None if minutes is None else at + timedelta(minutes=minutes)
            return MessageFactory.build(customer=customer, timestamp=when, **fields)

        def sent(customer: Customer, **fields: object) -> dict[str, object]:
            return {"customer": customer, "from_wa_id": NUMBER, "to_wa_id": customer.wa_id,
                    "delivery_status": "sent", **fields}

        Message.objects.bulk_create([
            row(0, customer, to_wa_id=NUMBER),
            row(5, **sent(customer), sender_type="agent", agent_id=str(scenario.agents[0].pk)),
            row(6, **sent(customer), sender_type="agent", automation_rule=AutomationRuleFactory()),
            row(10, **sent(sent_to), sender_type="campaign", campaign_job=scenario.job),
            row(10, **sent(failed_for, from_wa_id=OTHER_NUMBER, delivery_status="failed"),
                sender_type="campaign", campaign_job=scenario.job),
            row(None, customer, to_wa_id=NUMBER),
        ])
        Message.objects.bulk_create([row(60, sent_to, to_wa_id=NUMBER),
                                     row(61, customer, to_wa_id=NUMBER)])
        later = Message.objects.filter(timestamp__gte=at)
        later.update(body="edited")
        later.filter(pk__lt=0).update(delivery_status="read")
        later.exclude(sender_type="customer").exclude(delivery_status="failed").update(
            delivery_status="delivered", billable_category="marketing")

        kept = _snapshot()
        assert ResponseTime.objects.filter(customer=customer).get().seconds == 300
        assert JobStatus.objects.get(customer=sent_to).replied_at == at + timedelta(minutes=60)
        funnel = CampaignFunnel.objects.filter(job=scenario.job)
        raw = raw_campaign(scenario.job)
        assert queries.funnel_row(*(sum(getattr(f, name) for f in funnel) for name in (
            "sent", "delivered", "read", "failed", "replied"))) == {
            key: raw[key] for key in ("sent", "delivered", "read", "failed", "replied")}
        rollups.rebuild(Period(date(2026, 11, 9), date(2026, 11, 13), "Asia/Kolkata"))
        assert _snapshot() == kept


def test_status_webhooks_store_pricing_once_and_billable_only_when_billed(org_a) -> None:
    with tenant_context(org_a):
        message = MessageFactory(message_id="wamid.priced", sender_type="agent",
                                 from_wa_id=NUMBER, delivery_status="sent")
    item = wp.status("wamid.priced", "delivered", "919811111111")
    item["pricing"] = MARKETING
    item["conversation"] = {"id": "conv1", "origin": {"type": "marketing"},
                            "expiration_timestamp": wp.ts(86400)}
    payload = parse_payload(wp.body(wp.delivery(wp.entry(
        wp.change("1", NUMBER, statuses=[item])))))
    update = payload.changes[0].statuses[0]
    later = wp.status("wamid.priced", "read", "919811111111")
    later["pricing"] = {"billable": True, "category": "utility"}
    with tenant_context(org_a):
        apply_status(update)
        apply_status(parse_payload(wp.body(wp.delivery(wp.entry(wp.change(
            "1", NUMBER, statuses=[later]))))).changes[0].statuses[0])
        message.refresh_from_db()
    assert message.delivery_status == "read"
    assert message.pricing == MARKETING and message.billable_category == "marketing"
    assert message.conversation["origin"] == {"type": "marketing"}
    assert billable_category({"billable": False, "category": "marketing"}) is None
    assert billable_category({"category": "service", "type": "free_entry_point"}) is None
    assert billable_category(None) is None


def test_first_reply_percentiles_from_counts_equal_percentile_cont_over_the_rows(
        both) -> None:
    """Counts of whole seconds hold every value: ties, odd and even counts, replies deleted."""
    scenario = both[0]
    with tenant_context(scenario.org):
        agents = [str(agent.pk) for agent in scenario.agents] + [None]
        customers = CustomerFactory.create_batch(3)
        late_evening = datetime(2026, 11, 20, 18, 25, tzinfo=timezone.utc)  # 23:55 in Kolkata
        for index in range(61):
            ResponseTimeFactory(
                customer=customers[index % 3], agent_id=agents[index % len(agents)],
                waiting_since=late_evening - timedelta(minutes=index),
                responded_at=late_evening + timedelta(minutes=index % 9),  # some the next day
                seconds=(index * 37) % 23 * 60 + index % 4)
        ResponseTime.objects.filter(seconds__lt=100).delete()  # the counts follow deletions

        def expected(period: Period, agent: str | None = None) -> tuple[int, float, float]:
            only = "AND agent_id IS NOT DISTINCT FROM %(agent)s" if agent != "all" else ""
            with connection.cursor() as cursor:  # the reference: percentile_cont over the rows
                cursor.execute(
                    "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds), "
                    "percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) FROM response_times "
                    "WHERE organization_id = %(org)s AND responded_at >= %(start)s "
                    f"AND responded_at < %(end)s {only}",
                    {"org": scenario.org.pk, "start": period.start, "end": period.end,
                     "agent": agent})
                count, median, p90 = cursor.fetchone()
            return count, round(median, 1) if count else None, round(p90, 1) if count else None

        for period in (NOVEMBER, Period(date(2026, 11, 20), date(2026, 11, 20), "Asia/Kolkata"),
                       Period(date(2026, 11, 21), date(2026, 11, 21), "Asia/Kolkata")):
            figures = queries.agents(period)
            overall = figures["overall"]
            assert (overall["responses"], overall["median_seconds"],
                    overall["p90_seconds"]) == expected(period, "all")
            assert overall["responses"] > 0
            for row in figures["agents"]:
                assert (row["responses"], row["median_seconds"],
                        row["p90_seconds"]) == expected(period, row["agent_id"])
            assert [row["agent_id"] for row in figures["agents"]][-1:] == [None]


def test_response_time_counts_stay_in_their_organization(both) -> None:
    for scenario in both:
        with tenant_context(scenario.org):
            counted = sum(ResponseTimeCount.objects.values_list("replies", flat=True))
            assert counted == ResponseTime.objects.count() == 3
