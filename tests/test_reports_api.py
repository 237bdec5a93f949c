"""The reports API: figures equal SQL over the raw rows, one organization's only; agents read
their own figures only; another organization's campaign is 404; CSV and XLSX downloads."""
from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from openpyxl import load_workbook

from crm.models import Role
from tenancy.context import tenant_context
from tests.reports_support import (
    build,
    raw_billable,
    raw_campaign,
    raw_messages_per_day,
    sql,
)
from tests.test_api import client_for, staff

RANGE = "from=2026-11-01&to=2026-11-30"


@pytest.fixture
def both(org_a, org_b):
    return build(org_a), build(org_b)


@pytest.fixture
def admin_a(org_a):
    return client_for(staff(org_a))


def test_overview_equals_sql_over_the_raw_rows(both, admin_a, org_a) -> None:
    answer = admin_a.get(f"/api/v1/reports/overview/?{RANGE}")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    with tenant_context(org_a):
        raw = raw_messages_per_day(org_a)
    assert {d["day"]: {"in": d["in"], "out": d["out"]} for d in data["days"]
            if d["in"] or d["out"]} == raw
    assert len(data["days"]) == 30 and data["time_zone"] == "Asia/Kolkata"
    new = {d["day"]: d["new_customers"] for d in data["days"] if d["new_customers"]}
    with tenant_context(org_a):
        assert new == {day.isoformat(): count for day, count in sql(
            "SELECT ((created_at AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Kolkata')::date, "
            "count(*) FROM customers WHERE organization_id = %s AND created_at >= %s "
            "AND created_at < %s GROUP BY 1", org_a.pk, "2026-10-31 18:30", "2026-11-30 18:30")}
    assert new["2026-11-10"] == 1 and new["2026-11-11"] == 2  # 23:30 and after midnight
    assert data["first_response"]["responses"] == 3
    with tenant_context(org_a):
        assert data["waiting_now"] == sql(
            "SELECT count(*) FROM customers WHERE organization_id = %s "
            "AND last_inbound_at >= coalesce(last_message_at, last_inbound_at)", org_a.pk)[0][0]
    assert data["waiting_now"] == 1


def test_usage_gives_billable_messages_of_the_month(both, admin_a, org_a) -> None:
    data = admin_a.get("/api/v1/usage/?month=2026-11").json()
    with tenant_context(org_a):
        assert data["billable"] == raw_billable(org_a)
    for month in ("2026-13", "november", "0001-01", "9999-12"):
        refused = admin_a.get(f"/api/v1/usage/?month={month}")
        assert refused.status_code == 400 and "month" in refused.json()


def test_campaign_report_equals_sql_and_downloads(both, admin_a, org_a) -> None:
    scenario = both[0]
    url = f"/api/v1/campaigns/{scenario.campaign.pk}/report/"
    data = admin_a.get(url).json()
    with tenant_context(org_a):
        raw = raw_campaign(scenario.job)
    for key in ("sent", "delivered", "read", "failed", "replied", "opted_out"):
        assert data[key] == raw[key], key
    assert data["orders_paid_within_7_days"] == raw["paid"] == 1
    assert data["recipients"] == {"total": 6, "pending": 0, "sent": 4, "skipped": 1,
                                  "not_sent": 1, "replied": 1}
    assert {f["code"]: f["messages"] for f in data["failures"]} == raw["failures"]
    words = {f["code"]: f["meaning"] for f in data["failures"]}
    assert "not to deliver this marketing message" in words[131049]
    assert "cannot receive" in words[131026]
    assert sorted(n["number"] for n in data["per_number"]) == ["919800000001", "919800000002"]
    assert sum(n["sent"] for n in data["per_number"]) == data["sent"]

    download = admin_a.get(url + "?format=csv")
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert ["all numbers", "3", "2", "1", "2", "1"] in rows
    book = load_workbook(io.BytesIO(admin_a.get(url + "?format=xlsx").content))
    cells = [[c for c in row] for row in book.active.iter_rows(values_only=True)]
    assert ("orders paid within 7 days", 1) in [tuple(r[:2]) for r in cells]


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_campaign_is_404(both, admin_a) -> None:
    theirs = both[1].campaign.pk
    for suffix in ("", "?format=csv", "?format=xlsx"):
        answer = admin_a.get(f"/api/v1/campaigns/{theirs}/report/{suffix}")
        assert answer.status_code == 404, suffix
        assert answer.json()["detail"]
    assert admin_a.get("/api/v1/campaigns/not-a-uuid/report/").status_code == 404


@pytest.mark.usefixtures("python_scope")
def test_no_figure_of_another_organization_enters_any_report(both, admin_a) -> None:
    """B holds the same scenario: any of its rows would double a figure."""
    campaigns = admin_a.get(f"/api/v1/reports/campaigns/?{RANGE}").json()["campaigns"]
    assert [(c["id"], c["sent"], c["replied"]) for c in campaigns] == [
        (str(both[0].campaign.pk), 3, 1)]
    sources = admin_a.get(f"/api/v1/reports/referrals/?{RANGE}").json()["sources"]
    assert sources == [{"source_type": "ad", "source_id": "120201", "headline": "50% off",
                        "customers": 1, "leads": 1, "ordered": 1, "paid": 1}]
    agents = admin_a.get(f"/api/v1/reports/agents/?{RANGE}").json()
    assert {a["agent_id"] for a in agents["agents"]} == {str(u.pk) for u in both[0].agents}
    assert agents["overall"]["responses"] == 3


def test_agents_see_only_their_own_figures(both, org_a) -> None:
    agent = both[0].agents[1]
    client = client_for(agent)
    mine = client.get(f"/api/v1/reports/agents/?{RANGE}").json()
    assert [a["agent_id"] for a in mine["agents"]] == [str(agent.pk)]
    assert mine["overall"]["responses"] == 1
    for report in ("overview", "campaigns", "referrals"):
        refused = client.get(f"/api/v1/reports/{report}/?{RANGE}")
        assert refused.status_code == 403 and "/api/v1/reports/agents/" in refused.json()["detail"]
    assert client.get("/api/v1/usage/").status_code == 403
    assert client_for(staff(org_a, Role.AGENT)).get(
        f"/api/v1/reports/agents/?{RANGE}").json()["agents"] == []


@pytest.mark.parametrize(("query", "field"), [
    ("from=2026-11-31", "from"), ("to=yesterday", "to"),
    ("from=2026-11-10&to=2026-11-01", "from"), ("from=2024-01-01&to=2026-11-01", "to"),
    ("to=9999-12-31", "to"), ("from=0001-01-01", "from"),
])
def test_a_malformed_range_is_400_naming_the_field(admin_a, query, field) -> None:
    answer = admin_a.get(f"/api/v1/reports/overview/?{query}")
    assert answer.status_code == 400
    assert field in answer.json()


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboard_shows_the_organizations_figures_to_its_admin(both, org_a) -> None:
    page = _browser(staff(org_a)).get(f"/reports/?{RANGE}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "reports/chart.umd.js" in html and "messages-chart" in html
    assert str(both[0].campaign.pk) in html and str(both[1].campaign.pk) not in html
    figures = page.context["figures"]
    assert figures["overview"]["totals"]["in"] == sum(
        d["in"] for d in figures["overview"]["days"])
    campaign = _browser(staff(org_a)).get(f"/reports/campaigns/{both[0].campaign.pk}/")
    assert campaign.status_code == 200 and "?format=xlsx" in campaign.content.decode()
    assert _browser(staff(org_a)).get(
        f"/reports/campaigns/{both[1].campaign.pk}/").status_code == 404


def test_an_agent_sees_only_their_own_figures_on_the_dashboard(both) -> None:
    agent = both[0].agents[0]
    page = _browser(agent).get(f"/reports/?{RANGE}")
    assert page.status_code == 200
    figures = page.context["figures"]
    assert set(figures) == {"agents"}
    assert [row["agent_id"] for row in figures["agents"]["agents"]] == [str(agent.pk)]
    assert "messages-chart" not in page.content.decode()
    assert _browser(agent).get("/reports/?from=bad").status_code == 400
