"""Automation's contact conditions (issue 16): the customer's labels (any or all of them) and the
conversation's status; checked like the others, and B's labels never count for A's rules."""
from __future__ import annotations

from typing import Any

import pytest

from bench.fake_graph import FakeGraph
from crm.automation.errors import InvalidRule
from crm.automation.rules import check_rule
from crm.automation.services import run_for_message
from crm.contacts import services
from crm.models import Customer, Organization
from tenancy.context import tenant_context
from tests.factories import (
    AutomationRuleFactory,
    CustomerFactory,
    LabelFactory,
    MessageFactory,
    WhatsAppNumberFactory,
)

TRIGGER = {"type": "keyword", "keywords": ["hello"]}


def _rule(body: str, **conditions: Any) -> None:
    AutomationRuleFactory(trigger=TRIGGER, conditions={"numbers": [], **conditions}, actions=[
        {"type": "send", "message": {"type": "text", "text": {"body": body}}}])


@pytest.fixture
def asha(in_a: Organization) -> Customer:
    WhatsAppNumberFactory(display_number="+91 80000 00000")  # MessageFactory's number
    return CustomerFactory(name="Asha", wa_id="919812345678")


def test_labels_and_status_conditions_decide_which_rules_fire(asha, fake_graph: FakeGraph
                                                              ) -> None:
    LabelFactory(name="VIP"), LabelFactory(name="Gold"), LabelFactory(name="Lapsed")
    services.add_labels(asha, ["vip", "Gold"])
    services.set_status(asha, Customer.ConversationStatus.PENDING)
    _rule("any", labels={"names": ["Lapsed", "VIP"]})
    _rule("all", labels={"match": "all", "names": ["VIP", "gold"]})
    _rule("all-missing", labels={"match": "all", "names": ["VIP", "Lapsed"]})
    _rule("pending", status=["pending", "open"])
    _rule("resolved", status=["resolved"])
    run_for_message(MessageFactory(customer=asha, body="hello").pk)
    sent = sorted(call.body["text"]["body"] for call in fake_graph.sent())
    assert sent == ["all", "any", "pending"]


@pytest.mark.parametrize(("conditions", "path"), [
    ({"labels": ["VIP"]}, "conditions.labels"),
    ({"labels": {"names": []}}, "conditions.labels.names"),
    ({"labels": {"names": ["VIP"], "match": "most"}}, "conditions.labels.match"),
    ({"labels": {"names": ["Nope"]}}, "conditions.labels.names[0]"),
    ({"labels": {"names": ["VIP"], "mode": "any"}}, "conditions.labels.mode"),
    ({"status": "open"}, "conditions.status"),
    ({"status": ["closed"]}, "conditions.status[0]"),
])
def test_malformed_contact_conditions_name_the_field(in_a, conditions, path) -> None:
    LabelFactory(name="VIP")
    with pytest.raises(InvalidRule) as refused:
        check_rule(TRIGGER, conditions, [{"type": "create_lead"}])
    assert refused.value.path == path


def test_checked_conditions_keep_the_labels_and_statuses(in_a) -> None:
    LabelFactory(name="VIP")
    _, conditions, _ = check_rule(TRIGGER, {"labels": {"names": [" VIP "]},
                                            "status": ["open", "open"]},
                                  [{"type": "create_lead"}])
    assert conditions == {"numbers": [], "hours": "any", "status": ["open"],
                          "labels": {"match": "any", "names": ["VIP"]}}


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_labels_neither_validate_nor_count(
    org_a, org_b, fake_graph: FakeGraph
) -> None:
    with tenant_context(org_b):
        services.add_labels(CustomerFactory(wa_id="919812345678"), ["Gold"])
    with tenant_context(org_a):
        with pytest.raises(InvalidRule, match="no such label"):
            check_rule(TRIGGER, {"labels": {"names": ["Gold"]}}, [{"type": "create_lead"}])
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        LabelFactory(name="Gold")
        _rule("gold", labels={"names": ["Gold"]})
        asha = CustomerFactory(wa_id="919812345678")  # B's customer of this number is Gold
        assert run_for_message(MessageFactory(customer=asha, body="hello").pk) == []
    assert fake_graph.sent() == []
