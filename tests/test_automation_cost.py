"""What one automation run costs in SQL statements (issue 16): the benchmark's conversation
("hi", a keyword, "book" starting a flow, the flow's answer) run through run_for_message for an
organization with a welcome, a keyword, an away and a follow-up rule and a flow, another
organization alongside with the same rules. Statement counts are deterministic; timings are
the benchmark's (bench/automation.py). The rules a run reads once and reuses are its own
organization's only."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.automation import arming
from crm.automation.inbound import Inbound
from crm.automation.services import run_for_message
from crm.models import (
    AutomationRun,
    AutomationSchedule,
    Customer,
    Flow,
    Lead,
    Message,
    Organization,
)
from tenancy.context import tenant_context, unscoped
from tests.factories import (
    AutomationRuleFactory,
    CustomerFactory,
    MessageFactory,
    WhatsAppNumberFactory,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS_OPEN = {day: [["00:00", "24:00"]] for day in DAYS}
# Statements per message of the conversation, at most (30, 30, 38 and 28 before issue 16).
BOUNDS = {"hi": 20, "what is the price?": 20, "book": 28, "Mumbai": 22}


def _send(body: str) -> list[dict[str, Any]]:
    return [{"type": "send", "message": {"type": "text", "text": {"body": body}}}]


def seed(organization: Organization, display: str) -> Flow:
    """The benchmark's rules (bench/automation.py) for `organization`, open all week."""
    with unscoped():  # organizations are shared rows: setting hours is the platform's here
        Organization.objects.filter(pk=organization.pk).update(
            business_hours=ALWAYS_OPEN, time_zone="UTC")
    with tenant_context(organization):
        WhatsAppNumberFactory(display_number=display)
        flow = Flow.objects.create(name="Booking", steps=[
            {"id": "city", "expect": "text", "answer": "city", "next": "done",
             "message": {"type": "text", "text": {"body": "Which city are you in?"}}},
            {"id": "done", "actions": [{"type": "create_lead"}], "message": {
                "type": "text", "text": {"body": "Thanks {{name}}, we will call you."}}}])
        AutomationRuleFactory(name="Away", priority=5, stop_processing=True,
                              trigger={"type": "outside_hours", "every_hours": 12},
                              actions=_send("We are closed now, {{name}}."))
        AutomationRuleFactory(name="Welcome", priority=10,
                              trigger={"type": "first_message"},
                              actions=_send("Hi {{name}}, welcome!"))
        AutomationRuleFactory(name="Prices", priority=20, stop_processing=True,
                              trigger={"type": "keyword", "keywords": ["price"],
                                       "match": "contains"},
                              actions=_send("Our prices start at 500."))
        AutomationRuleFactory(name="Booking", priority=30, stop_processing=True,
                              trigger={"type": "keyword", "keywords": ["book"], "match": "exact"},
                              actions=[{"type": "start_flow", "flow": str(flow.pk)}])
        AutomationRuleFactory(name="Follow-up", priority=40,
                              trigger={"type": "no_customer_reply", "minutes": 30},
                              actions=_send("Still there, {{name}}?"))
    return flow


def test_one_conversation_stays_within_its_statement_bounds(org_a, org_b,
                                                            fake_graph: FakeGraph) -> None:
    seed(org_b, "+91 80000 00000")
    seed(org_a, "+91 80000 00000")  # the same display number: the organization tells them apart
    statements = {}
    with tenant_context(org_a):
        asha = CustomerFactory(name="Asha", wa_id="919812345678")
        for body in BOUNDS:
            message = MessageFactory(customer=asha, body=body)
            with CaptureQueriesContext(connection) as queries:
                run_for_message(message.pk)
            statements[body] = [query["sql"] for query in queries]
        counts = {body: len(sql) for body, sql in statements.items()}
        over = [body for body in BOUNDS if counts[body] > BOUNDS[body]]
        assert not over, f"{counts}\n" + "\n".join(statements[over[0]])
        fired = list(AutomationRun.objects.order_by("created_at")
                     .values_list("rule__name", flat=True))
        assert fired == ["Welcome", "Prices", "Booking"]
        assert [call.body["text"]["body"] for call in fake_graph.sent()] == [
            "Hi Asha, welcome!", "Our prices start at 500.", "Which city are you in?",
            "Thanks Asha, we will call you."]
        assert Lead.objects.get().appointment_details == {"city": "Mumbai"}
        assert AutomationSchedule.objects.filter(rule__name="Follow-up").count() == 4
        assert Customer.objects.get().pk == asha.pk
    with tenant_context(org_b):
        assert not AutomationRun.objects.exists()
        assert not AutomationSchedule.objects.exists()


@pytest.mark.usefixtures("python_scope")
def test_the_rules_a_run_reads_are_its_organizations_only(org_a, org_b) -> None:
    seed(org_b, "+91 80000 00000")
    seed(org_a, "+91 80000 00000")
    with tenant_context(org_a):
        message = MessageFactory(body="hi")
        now = timezone.now()
        rules = Inbound(message, message.customer, org_a, now).every_rule
        assert len(rules) == 5 and {rule.organization_id for rule in rules} == {org_a.pk}
        # An Inbound naming another organization finds none of that one's rules either.
        assert Inbound(message, message.customer, org_b, now).every_rule == []


@pytest.mark.usefixtures("python_scope")
def test_a_reply_never_arms_with_another_organizations_rules(org_a, org_b) -> None:
    seed(org_b, "+91 80000 00000")
    seed(org_a, "+91 80000 00000")
    with tenant_context(org_b):
        theirs = MessageFactory(body="hi")
        answering = Inbound(theirs, theirs.customer, org_b, timezone.now())
        assert answering.every_rule  # read as B: B's follow-up among them
    with tenant_context(org_a):
        asha = CustomerFactory()
        ours = Message.objects.create(customer=asha, sender_type="agent", type="text",
                                      body="hello", timestamp=timezone.now())
        arming.after_outbound(ours, asha, answering)
        armed = AutomationSchedule.objects.get()
        assert armed.rule.organization_id == org_a.pk and armed.rule.name == "Follow-up"
