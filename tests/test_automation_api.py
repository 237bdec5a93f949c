"""The automation API: rules (ORG_ADMIN writes, AGENT reads, shapes checked with the field path,
another organization's rule 404), the organization's settings, and pausing a conversation."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import AutomationRule, Customer, Organization, Role
from tenancy.context import tenant_context
from tests.factories import AutomationRuleFactory, CustomerFactory, WhatsAppNumberFactory
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for, staff

URL = "/api/v1/automation-rules/"
RULE = {"name": "Prices", "is_active": True, "priority": 10, "stop_processing": False,
        "trigger": {"type": "keyword", "keywords": ["price", "cost"], "match": "contains"},
        "conditions": {"numbers": [], "hours": "any"},
        "actions": [{"type": "send", "message": {"type": "text",
                                                 "text": {"body": "Hi {{name}}, ..."}}}]}
WEEK = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")} | {
    "sun": []}


@pytest.fixture
def admin_a(org_a):
    return client_for(staff(org_a))


@pytest.fixture
def agent_a(org_a):
    return client_for(staff(org_a, Role.AGENT))


def test_an_org_admin_creates_a_rule_of_its_organization(admin_a, org_a) -> None:
    response = admin_a.post(URL, RULE, format="json")
    assert response.status_code == 201, response.content
    with tenant_context(org_a):
        rule = AutomationRule.objects.get(pk=response.json()["id"])
    assert rule.organization_id == org_a.pk and rule.trigger["keywords"] == ["price", "cost"]


def test_an_agent_reads_rules_and_cannot_write_them(agent_a, org_a) -> None:
    with tenant_context(org_a):
        rule = AutomationRuleFactory()
    assert agent_a.get(f"{URL}{rule.pk}/").status_code == 200
    assert agent_a.post(URL, RULE, format="json").status_code == 403
    assert agent_a.patch(f"{URL}{rule.pk}/", {"name": "x"}, format="json").status_code == 403


def _with(path: str, value: Any) -> dict[str, Any]:
    """RULE with the value at a dotted path (list items as [0]) replaced."""
    body = {key: (dict(v) if isinstance(v, dict) else v) for key, v in RULE.items()}
    head, _, rest = path.partition(".")
    if head == "actions":
        body["actions"] = value
    elif rest:
        body[head] = {**body[head], rest: value}
    else:
        body[head] = value
    return body


@pytest.mark.parametrize(("path", "value", "field", "says"), [
    ("trigger.match", "fuzzy", "trigger.match", "exact, contains, starts_with"),
    ("trigger", {"type": "no_agent_reply"}, "trigger.minutes", "required"),
    ("trigger", {"type": "no_customer_reply", "minutes": 0}, "trigger.minutes", "1 to 43200"),
    ("trigger", {"type": "no_agent_reply", "minutes": 43201}, "trigger.minutes", "1 to 43200"),
    ("trigger", {"type": "no_agent_reply", "minutes": "5"}, "trigger.minutes", "whole number"),
    ("trigger", {"type": "no_customer_reply", "minutes": True}, "trigger.minutes",
     "whole number"),
    ("trigger.type", "sometimes", "trigger.type", "give one of"),
    ("trigger.keywords", [], "trigger.keywords", "list of 1 to"),
    ("trigger.colour", "red", "trigger.colour", "unknown field"),
    ("conditions.hours", "lunch", "conditions.hours", "inside"),
    ("conditions.numbers", ["not-a-uuid"], "conditions.numbers[0]", "number id"),
    ("actions", [], "actions", "1 to 10"),
    ("actions", [{"type": "start_flow", "flow": "x"}], "actions[0].flow", "id of a flow"),
    ("actions", [{"type": "start_flow", "flow": "7f0c3a52-8d1e-4b7a-9c55-0e1f2a3b4c5d"}],
     "actions[0].flow", "no flow of your organization"),
    ("actions", [{"type": "create_lead", "colour": "red"}], "actions[0].colour",
     "unknown field"),
    ("actions", [{"type": "push_lead"}], "actions[0].type", "Zoho CRM is not configured"),
    ("actions", [{"type": "send", "message": {"type": "text", "text": {}}}],
     "actions[0].message.text.body", "required"),
    ("actions", [{"type": "send", "message": {"type": "text", "text": {"body": "{{city}}"}}}],
     "actions[0].message.text.body", "unknown placeholder"),
    ("actions", [{"type": "assign", "to": "someone"}], "actions[0].to", "round_robin"),
    ("actions", [{"type": "set_status", "status": "closed"}], "actions[0].status", "resolved"),
])
def test_a_malformed_rule_is_400_naming_the_field(admin_a, path, value, field, says) -> None:
    response = admin_a.post(URL, _with(path, value), format="json")
    assert response.status_code == 400, response.content
    assert says in " ".join(response.json()[field])


def test_a_rule_cannot_name_another_organizations_number_or_agent(admin_a, org_b) -> None:
    with tenant_context(org_b):
        number = WhatsAppNumberFactory()
    agent = staff(org_b, Role.AGENT)
    response = admin_a.post(URL, _with("conditions.numbers", [str(number.pk)]), format="json")
    assert response.status_code == 400
    assert "no WhatsApp number of your organization" in response.json()["conditions.numbers[0]"][0]
    response = admin_a.post(URL, _with("actions", [{"type": "assign", "to": str(agent.pk)}]),
                            format="json")
    assert response.status_code == 400
    assert "no agent or administrator" in response.json()["actions[0].to"][0]


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_rule_is_404(admin_a, org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = AutomationRuleFactory(name="B's rule")
    url = f"{URL}{theirs.pk}/"
    assert admin_a.get(url).status_code == 404
    assert admin_a.patch(url, {"name": "mine now"}, format="json").status_code == 404
    assert admin_a.delete(url).status_code == 404
    assert str(theirs.pk) not in str(admin_a.get(URL).json())
    with tenant_context(org_b):
        assert AutomationRule.objects.get(pk=theirs.pk).name == "B's rule"


# -- the organization's settings ---------------------------------------------------------------


def test_the_organization_endpoint_shows_the_callers_own(admin_a, agent_a, org_a) -> None:
    for client in (admin_a, agent_a):
        body = client.get("/api/v1/organization/").json()
        assert body["id"] == str(org_a.pk)
        assert body["time_zone"] == "Asia/Kolkata" and body["agent_reply_grace_minutes"] == 30


def test_an_org_admin_changes_the_settings(admin_a, org_a, org_b) -> None:
    response = admin_a.patch("/api/v1/organization/", {
        "time_zone": "Europe/London", "business_hours": WEEK, "agent_reply_grace_minutes": 10,
        "code": "stolen", "is_active": False}, format="json")
    assert response.status_code == 200, response.content
    org_a.refresh_from_db()
    org_b.refresh_from_db()
    assert (org_a.time_zone, org_a.business_hours, org_a.agent_reply_grace_minutes) == (
        "Europe/London", WEEK, 10)
    assert org_a.code != "stolen" and org_a.is_active  # identity is the platform's
    assert org_b.time_zone == "Asia/Kolkata"


def test_an_agent_cannot_change_the_settings(agent_a, org_a) -> None:
    response = agent_a.patch("/api/v1/organization/", {"time_zone": "UTC"}, format="json")
    assert response.status_code == 403
    org_a.refresh_from_db()
    assert org_a.time_zone == "Asia/Kolkata"


@pytest.mark.parametrize(("field", "value", "says"), [
    ("time_zone", "Mars/Olympus", "not an IANA time zone"),
    ("business_hours", WEEK | {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}, "overlap"),
    ("business_hours", WEEK | {"tue": [["18:00", "09:00"]]}, "start must be before"),
    ("business_hours", {"mon": []}, "missing"),
    ("agent_reply_grace_minutes", -1, "greater than or equal"),
])
def test_bad_settings_are_400_naming_the_field(admin_a, field, value, says) -> None:
    response = admin_a.patch("/api/v1/organization/", {field: value}, format="json")
    assert response.status_code == 400
    assert says in " ".join(response.json()[field])


def test_platform_staff_change_the_organization_they_chose(org_a, org_b) -> None:
    client = client_for(staff(None, Role.SUPER_ADMIN))
    response = client.patch("/api/v1/organization/", {"time_zone": "UTC"}, format="json",
                            HTTP_X_ORGANIZATION_ID=org_b.code)
    assert response.status_code == 200, response.content
    assert Organization.objects.get(pk=org_b.pk).time_zone == "UTC"
    assert Organization.objects.get(pk=org_a.pk).time_zone == "Asia/Kolkata"


# -- pause for a human -------------------------------------------------------------------------


def test_an_agent_pauses_and_resumes_a_conversation(agent_a, org_a) -> None:
    with tenant_context(org_a):
        customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.pk}/pause-automation/"
    response = agent_a.post(url, {"minutes": 60}, format="json")
    assert response.status_code == 200
    until = parse_datetime(response.json()["automation_paused_until"])
    assert timedelta(minutes=59) < until - timezone.now() <= timedelta(minutes=60)
    with tenant_context(org_a):
        assert Customer.objects.get(pk=customer.pk).automation_paused_until == until
    assert agent_a.post(url, {}, format="json").json() == {"automation_paused_until": None}
    with tenant_context(org_a):
        assert Customer.objects.get(pk=customer.pk).automation_paused_until is None
    assert agent_a.post(url, {"minutes": 0}, format="json").status_code == 400


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_conversation_cannot_be_paused(admin_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = CustomerFactory()
    response = admin_a.post(f"/api/v1/customers/{theirs.pk}/pause-automation/",
                            {"minutes": 60}, format="json")
    assert response.status_code == 404
    with tenant_context(org_b):
        assert Customer.objects.get(pk=theirs.pk).automation_paused_until is None


# -- the admin ---------------------------------------------------------------------------------


def test_the_admin_checks_the_organizations_hours_and_time_zone(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    url = admin_url(Organization, "change", org_a)
    form = {"name": "Org A", "description": "", "agents_see_all": "on",
            "agent_reply_grace_minutes": "15", "default_country": "IN"}
    bad = client.post(url, {**form, "time_zone": "Mars/Olympus", "business_hours": json.dumps(
        WEEK | {"mon": [["10:00", "09:00"]]})})
    assert bad.status_code == 200
    errors = bad.context["adminform"].form.errors
    assert "not an IANA time zone" in errors["time_zone"][0]
    assert "start must be before" in errors["business_hours"][0]
    good = client.post(url, {**form, "time_zone": "Asia/Dubai",
                             "business_hours": json.dumps(WEEK)})
    assert good.status_code == 302
    org_a.refresh_from_db()
    assert (org_a.time_zone, org_a.business_hours, org_a.agent_reply_grace_minutes) == (
        "Asia/Dubai", WEEK, 15)


def test_the_admin_checks_a_rules_shape(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    form = {"name": "Prices", "is_active": "on", "priority": "10",
            "conditions": json.dumps(RULE["conditions"]), "actions": json.dumps(RULE["actions"])}
    bad = client.post(admin_url(AutomationRule, "add"), {
        **form, "trigger": json.dumps({"type": "keyword", "keywords": ["x"], "match": "fuzzy"})})
    assert bad.status_code == 200
    assert "trigger.match" in bad.context["adminform"].form.errors["trigger"][0]
    good = client.post(admin_url(AutomationRule, "add"), {
        **form, "trigger": json.dumps(RULE["trigger"])})
    assert good.status_code == 302
    with tenant_context(org_a):
        assert AutomationRule.objects.get().trigger["match"] == "contains"
