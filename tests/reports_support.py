"""A small organization's worth of conversations and one campaign, for the report tests, and
the reference figures computed straight from the raw rows (SQL over messages, job_status, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from crm.campaigns.sending import SKIPPED
from crm.models import Campaign, Customer, Job, JobStatus, Message, Organization, User
from crm.reports.pricing import record_pricing
from tenancy.context import tenant_context
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    JobFactory,
    LeadFactory,
    MessageFactory,
    OrderFactory,
    ReferrerTrackingFactory,
    UserFactory,
)

# 18:00 UTC is 23:30 in Asia/Kolkata: messages an hour later fall on the next local day.
BASE = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)
NUMBER = "919800000001"
OTHER_NUMBER = "919800000002"
MARKETING = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
SERVICE_FREE = {"billable": False, "pricing_model": "PMP", "category": "service",
                "type": "free_customer_service"}
UTILITY = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}


@dataclass
class Scenario:
    """What `build` made in one organization."""

    org: Organization
    agents: list[User]
    campaign: Campaign
    job: Job
    customers: list[Customer] = field(default_factory=list)


def _at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


def _inbound(customer: Customer, minutes: float, number: str = NUMBER) -> Message:
    return MessageFactory(customer=customer, to_wa_id=number, timestamp=_at(minutes))


def _reply(customer: Customer, minutes: float, agent: User | None,
           number: str = NUMBER, **fields: Any) -> Message:
    return MessageFactory(customer=customer, from_wa_id=number, to_wa_id=customer.wa_id,
                          sender_type="agent", agent_id=str(agent.pk) if agent else None,
                          timestamp=_at(minutes), delivery_status="sent", **fields)


def _move(message: Message, status: str, **fields: Any) -> None:
    """A status webhook's update (one statement, as crm.webhooks.statuses does)."""
    Message.objects.filter(pk=message.pk).update(delivery_status=status, **fields)


def build(org: Organization) -> Scenario:
    """Conversations answered by two agents, an ad referral, and a campaign of six recipients."""
    with tenant_context(org):
        agents = [UserFactory(), UserFactory()]
        one, two, three = (CustomerFactory(created_at=_at(m)) for m in (0, 50, 1500))
        _inbound(one, 0)
        _inbound(one, 10)
        first = _reply(one, 30, agents[0])  # one waited 30 minutes
        _inbound(two, 50)  # 23:30 + 50 min: the next local day
        _reply(two, 120, agents[1])  # two waited 70 minutes
        _inbound(one, 180, OTHER_NUMBER)
        second = _reply(one, 190, agents[0], OTHER_NUMBER)  # 10 minutes
        _reply(one, 200, agents[1])  # a second reply is no first response
        _reply(three, 1500, None)  # nobody was waiting
        record_pricing(first.message_id, SERVICE_FREE, {"id": "c1"})
        record_pricing(second.message_id, UTILITY, {"id": "c2"})
        _move(first, "delivered")
        _move(second, "read")
        referred = CustomerFactory(created_at=_at(400))
        ReferrerTrackingFactory(customer=referred, wa_id=referred.wa_id, created_at=_at(400),
                                source_type="ad", source_id="120201", headline="50% off")
        LeadFactory(customer=referred, wa_id=referred.wa_id, created_at=_at(460))
        OrderFactory(customer=referred, timestamp=_at(500), payment_completed_at=_at(520))
        campaign = CampaignFactory()
        job = JobFactory(campaign=campaign, created_at=_at(-60), started_at=_at(-60))
        scenario = Scenario(org, agents, campaign, job, [one, two, three, referred])
        _campaign(scenario)
    return scenario


def _campaign(scenario: Scenario) -> None:
    """Six recipients: read, delivered, failed later, sent, refused by Meta, skipped."""
    job = scenario.job
    recipients = [CustomerFactory() for _ in range(6)]
    sent_at = _at(-50)
    messages = []
    for index, customer in enumerate(recipients[:5]):
        failed = index == 4
        JobStatus.objects.create(job=job, customer=customer, updated_at=sent_at,
                                 status="failure" if failed else "success",
                                 reason="131026: fail" if failed else None)
        messages.append(MessageFactory(
            customer=customer, from_wa_id=NUMBER if index % 2 else OTHER_NUMBER,
            to_wa_id=customer.wa_id, sender_type="campaign", timestamp=sent_at,
            message_id=None if failed else f"wamid.campaign.{job.pk}.{index}",
            delivery_status="failed" if failed else "sent", error_code=131026 if failed else None,
            campaign_job=job,
        ))
    JobStatus.objects.create(job=job, customer=recipients[5], status="failure", reason=SKIPPED,
                             updated_at=sent_at)
    for message in messages[:4]:
        record_pricing(message.message_id, MARKETING, {"id": "m"})
    _move(messages[0], "delivered")
    _move(messages[0], "read")
    _move(messages[1], "delivered")
    _move(messages[2], "failed", error_code=131049, error_title="Ecosystem")
    _inbound(recipients[0], -50 + 120, NUMBER)  # replied within 24 hours
    _inbound(recipients[0], -50 + 130, NUMBER)  # a second reply counts once
    _inbound(recipients[3], -50 + 30 * 60, NUMBER)  # 30 hours later: no
    # The inbox's columns, as the webhook keeps them: recipient 3 waits for an answer.
    Customer.objects.filter(pk=recipients[3].pk).update(
        last_inbound_at=_at(-50 + 30 * 60), last_message_at=_at(-50 + 30 * 60))
    Customer.objects.filter(pk=recipients[0].pk).update(
        last_inbound_at=_at(80), last_message_at=_at(90))
    Customer.objects.filter(pk=recipients[1].pk).update(marketing_opt_out_at=_at(300))
    OrderFactory(customer=recipients[0], timestamp=_at(600),
                 payment_completed_at=_at(2 * 24 * 60))
    OrderFactory(customer=recipients[3], timestamp=_at(600),
                 payment_completed_at=_at(10 * 24 * 60))
    scenario.customers += recipients


def sql(statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of reference SQL over the raw tables (scoped by the active organization)."""
    # The tests' own reference queries; the policies scope them like any statement.
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


LOCAL_DAY = "((\"timestamp\" AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Kolkata')::date"


def raw_messages_per_day(org: Organization) -> dict[str, dict[str, int]]:
    """Messages in and out per local day, counted from `messages`."""
    found: dict[str, dict[str, int]] = {}
    for day, inbound, count in sql(
        f"SELECT {LOCAL_DAY}, sender_type = 'customer', count(*) FROM messages "
        "WHERE organization_id = %s GROUP BY 1, 2", org.pk,
    ):
        found.setdefault(day.isoformat(), {"in": 0, "out": 0})["in" if inbound else "out"] = count
    return found


def raw_billable(org: Organization) -> dict[str, int]:
    """Billable messages by category, counted from `messages`."""
    return dict(sql("SELECT billable_category, count(*) FROM messages WHERE organization_id = "
                    "%s AND billable_category IS NOT NULL GROUP BY 1", org.pk))


def raw_first_responses(org: Organization) -> list[tuple[str | None, int]]:
    """(agent, seconds) of each first human reply, walking every conversation's messages."""
    found = []
    waiting: dict[Any, datetime] = {}
    for customer, at, sender, agent, bot in sql(
        "SELECT customer_id, \"timestamp\", sender_type, agent_id, automation_rule_id "
        "FROM messages WHERE organization_id = %s AND sender_type IN ('customer', 'agent') "
        "ORDER BY customer_id, \"timestamp\", id", org.pk,
    ):
        if sender == "customer":
            waiting.setdefault(customer, at)
        elif bot is None and customer in waiting:
            found.append((agent, int((at - waiting.pop(customer)).total_seconds())))
    return found


def percentile(values: list[int], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def raw_campaign(job: Job) -> dict[str, Any]:
    """The campaign report's figures, counted from messages, job_status, customers and orders."""
    statuses = dict(sql("SELECT delivery_status, count(*) FROM messages WHERE campaign_job_id = "
                        "%s GROUP BY 1", job.pk))
    replied = sql(
        "SELECT count(DISTINCT s.customer_id) FROM job_status s JOIN messages m "
        "ON m.campaign_job_id = s.job_id AND m.customer_id = s.customer_id "
        "AND m.delivery_status <> 'failed' JOIN messages r ON r.customer_id = s.customer_id "
        "AND r.sender_type = 'customer' AND r.\"timestamp\" >= m.\"timestamp\" "
        "AND r.\"timestamp\" <= m.\"timestamp\" + interval '24 hours' WHERE s.job_id = %s",
        job.pk)[0][0]
    opted_out = sql(
        "SELECT count(*) FROM job_status s JOIN customers c ON c.id = s.customer_id "
        "JOIN jobs j ON j.id = s.job_id WHERE s.job_id = %s AND s.status = 'success' "
        "AND c.marketing_opt_out_at >= j.started_at", job.pk)[0][0]
    paid = sql(
        "SELECT count(DISTINCT o.id) FROM orders o JOIN job_status s "
        "ON s.customer_id = o.customer_id WHERE s.job_id = %s AND s.status = 'success' "
        "AND o.payment_completed_at >= s.updated_at "
        "AND o.payment_completed_at < s.updated_at + interval '7 days'", job.pk)[0][0]
    skipped = sql("SELECT count(*) FROM job_status WHERE job_id = %s AND reason = %s",
                  job.pk, SKIPPED)[0][0]
    failures = dict(sql("SELECT error_code, count(*) FROM messages WHERE campaign_job_id = %s "
                        "AND delivery_status = 'failed' GROUP BY 1", job.pk))
    return {
        "sent": sum(statuses.get(s, 0) for s in ("sent", "delivered", "read")),
        "delivered": statuses.get("delivered", 0) + statuses.get("read", 0),
        "read": statuses.get("read", 0), "failed": statuses.get("failed", 0),
        "replied": replied, "opted_out": opted_out, "paid": paid, "skipped": skipped,
        "failures": failures,
    }
