"""Resolution time: from a conversation's opening customer message (the first since its previous
resolution) to its resolution, per resolved conversation in the period (the organization's local
days), attributed to the assignee at resolution; equal to SQL over the raw rows, one
organization's only, an agent's own figures only."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.test import Client

from crm.contacts import services
from crm.models import ConversationResolution, Customer, Organization, User
from tenancy.context import tenant_context
from tests.factories import CustomerFactory, MessageFactory, UserFactory
from tests.reports_support import percentile, sql
from tests.test_api import client_for, staff

RANGE = "from=2026-11-01&to=2026-11-30"
# 18:00 UTC is 23:30 in Asia/Kolkata (the organizations' time zone).
BASE = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


@dataclass
class Resolved:
    """What `build` made in one organization."""

    org: Organization
    agents: list[User]
    customers: list[Customer]


def _write(customer: Customer, minutes: float) -> None:
    MessageFactory(customer=customer, sender_type="customer", timestamp=_at(minutes))


def _set(customer: Customer, status: str, minutes: float,
         until: datetime | None = None) -> None:
    """Set the status as the inbox does, at BASE + minutes."""
    with mock.patch("django.utils.timezone.now", return_value=_at(minutes)):
        services.set_status(customer, status, until=until)


def build(org: Organization) -> Resolved:
    """Resolutions by two agents, one unassigned, one reopened and resolved again, one resolved
    twice in a row, one with nothing to resolve, and one after the period (local time)."""
    with tenant_context(org):
        agents = [UserFactory(), UserFactory()]
        one, two, three, four, five = (CustomerFactory(user=agents[i % 2]) for i in range(5))
        _write(one, 0)
        _write(one, 5)  # the opening message is the first: 0
        _set(one, "resolved", 60)  # 60 min, agents[0]
        _write(one, 100)  # reopens
        _set(one, "open", 101)
        _set(one, "resolved", 130)  # 30 min from 100, agents[0]
        _write(two, 10)
        _set(two, "pending", 20)
        _set(two, "resolved", 250)  # 240 min, agents[1]
        _set(two, "resolved", 400)  # already resolved: nothing new
        Customer.objects.filter(pk=three.pk).update(user=None)
        three.refresh_from_db()
        _write(three, 30)
        _set(three, "snoozed", 31, until=_at(40))
        _set(three, "resolved", 45)  # 15 min, snooze included, nobody's
        _set(four, "resolved", 50)  # no customer message: nothing to time
        _write(five, 28_800)  # 2026-11-30 18:00 UTC, 23:30 local
        _set(five, "resolved", 28_830)  # 00:00 local on 1 December: after the period
    return Resolved(org, agents, [one, two, three, four, five])


@pytest.fixture
def both(org_a: Organization, org_b: Organization) -> tuple[Resolved, Resolved]:
    return build(org_a), build(org_b)


def _raw(org: Organization) -> list[tuple[str | None, int]]:
    """(assignee, seconds) of each resolution in the period, timed from `messages`: the first
    customer message after the conversation's previous resolution."""
    return [(None if agent is None else str(agent), int(seconds)) for agent, seconds in sql(
        "SELECT r.agent_id, extract(epoch FROM r.resolved_at - (SELECT min(m.\"timestamp\") "
        "FROM messages m WHERE m.organization_id = r.organization_id "
        "AND m.customer_id = r.customer_id AND m.sender_type = 'customer' "
        "AND m.\"timestamp\" <= r.resolved_at AND m.\"timestamp\" > coalesce(r.previous, "
        "'-infinity'))) FROM (SELECT *, lag(resolved_at) OVER (PARTITION BY customer_id "
        "ORDER BY resolved_at) AS previous FROM conversation_resolutions "
        "WHERE organization_id = %s) r "
        "WHERE r.resolved_at >= %s AND r.resolved_at < %s",
        org.pk, "2026-10-31 18:30", "2026-11-30 18:30")]


def _figures(seconds: list[int]) -> dict[str, object]:
    return {"resolved": len(seconds),
            "median_seconds": round(percentile(seconds, 0.5), 1) if seconds else None,
            "p90_seconds": round(percentile(seconds, 0.9), 1) if seconds else None}


def test_resolution_time_equals_sql_over_the_raw_rows(both, org_a) -> None:
    admin = client_for(staff(org_a))
    overview = admin.get(f"/api/v1/reports/overview/?{RANGE}").json()
    with tenant_context(org_a):
        raw = _raw(org_a)
    assert Counter(raw) == Counter([(str(both[0].agents[0].pk), 3600),
                                    (str(both[0].agents[0].pk), 1800),
                                    (str(both[0].agents[1].pk), 14400), (None, 900)])
    assert overview["resolution"] == _figures([s for _, s in raw])
    agents = admin.get(f"/api/v1/reports/agents/?{RANGE}").json()
    assert agents["resolution"] == overview["resolution"]
    per_agent = {row["agent_id"]: row["resolution"] for row in agents["agents"]}
    assert per_agent == {agent: _figures([s for a, s in raw if a == agent])
                         for agent in {a for a, _ in raw}}
    december = admin.get("/api/v1/reports/overview/?from=2026-12-01&to=2026-12-01").json()
    assert december["resolution"] == _figures([30 * 60])  # 23:30 to 00:00 local


def test_a_conversation_resolved_again_without_a_new_message_records_nothing(org_a) -> None:
    with tenant_context(org_a):
        customer = CustomerFactory()
        _write(customer, 0)
        _set(customer, "resolved", 10)
        _set(customer, "open", 20)
        _set(customer, "resolved", 30)  # the customer did not write since the first resolution
        _set(customer, "resolved", 40)
        assert list(ConversationResolution.objects.values_list("seconds", "agent_id")) == [
            (600, None)]


@pytest.mark.usefixtures("python_scope")
def test_no_figure_of_another_organization_enters_resolution_time(both, org_a, org_b) -> None:
    """B holds the same scenario: any of its rows would double a count."""
    for org, scenario in ((org_a, both[0]), (org_b, both[1])):
        admin = client_for(staff(org))
        overview = admin.get(f"/api/v1/reports/overview/?{RANGE}").json()
        assert overview["resolution"]["resolved"] == 4
        agents = admin.get(f"/api/v1/reports/agents/?{RANGE}").json()
        assert {row["agent_id"] for row in agents["agents"]} == {
            str(agent.pk) for agent in scenario.agents} | {None}
    with tenant_context(org_a):
        assert ConversationResolution.objects.filter(
            customer__in=[c.pk for c in both[1].customers]).count() == 0


def test_agents_see_only_their_own_resolution_figures(both, org_a) -> None:
    agent = both[0].agents[1]
    mine = client_for(agent).get(f"/api/v1/reports/agents/?{RANGE}").json()
    assert [row["agent_id"] for row in mine["agents"]] == [str(agent.pk)]
    assert mine["resolution"] == mine["agents"][0]["resolution"] == _figures([14400])
    browser = Client()
    browser.force_login(agent)
    page = browser.get(f"/reports/?{RANGE}")
    assert page.status_code == 200
    assert page.context["figures"]["agents"]["resolution"] == _figures([14400])
    assert "resolution, median" in page.content.decode()


def test_the_dashboard_shows_resolution_time(both, org_a) -> None:
    browser = Client()
    browser.force_login(staff(org_a))
    page = browser.get(f"/reports/?{RANGE}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "resolution-chart" in html and "conversations resolved" in html
    figures = page.context["figures"]
    assert figures["agents"]["resolution"] == figures["overview"]["resolution"]
    assert figures["overview"]["resolution"]["resolved"] == 4
