"""Delayed automation triggers: no_agent_reply and no_customer_reply are armed as due rows, fired
by beat when due (driven here with a controlled `now`), re-checked and cancelled when the other
side wrote, fired once however often or concurrently beat runs, and kept to their organization."""
from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from crm.automation.delayed import fire_due
from crm.automation.services import pause, run_for_message
from crm.models import AutomationRun, AutomationSchedule, Customer, Message, Organization
from crm.whatsapp.send import send_message
from tenancy.context import tenant_context
from tests.factories import (
    AutomationRuleFactory,
    CustomerFactory,
    MessageFactory,
    UserFactory,
    WhatsAppNumberFactory,
)
from tests.test_api import client_for, staff
from tests.test_automation import reply, replies, rule, write

WAIT = {"type": "no_agent_reply", "minutes": 10}
FOLLOW_UP = {"type": "no_customer_reply", "minutes": 5}
TEXT = {"type": "text", "text": {"body": "An agent's answer"}}
STATE = AutomationSchedule.State


@pytest.fixture
def asha(in_a: Organization) -> Customer:
    # MessageFactory's messages are written to this number.
    WhatsAppNumberFactory(display_number="+91 80000 00000")
    return CustomerFactory(name="Asha", wa_id="919812345678")


def customer_writes(customer: Customer, body: str = "hello") -> Message:
    """An inbound message, stored and handled by the automation task."""
    message = write(customer, body)
    run_for_message(message.pk)
    return message


def agent_answers(customer: Customer) -> Message:
    return send_message(customer, TEXT, user=UserFactory())


def states() -> list[str]:
    return list(AutomationSchedule.objects.order_by("created_at").values_list("state", flat=True))


# -- no_agent_reply ---------------------------------------------------------------------------


def test_no_agent_reply_fires_when_due_and_only_once(asha, fake_graph) -> None:
    waiting = rule(WAIT, "We will be with you shortly, {{name}}")
    message = customer_writes(asha)
    run_for_message(message.pk)  # a retried task arms it once
    schedule = AutomationSchedule.objects.get()
    assert schedule.due_at == message.timestamp + timedelta(minutes=10)
    assert fire_due(message.timestamp + timedelta(minutes=9)) == 0
    assert fire_due(schedule.due_at) == 1
    assert fire_due(schedule.due_at + timedelta(hours=1)) == 0  # beat running again
    assert replies(fake_graph) == ["We will be with you shortly, Asha"]
    run = AutomationRun.objects.get()
    assert (run.rule_id, run.message_id, run.outcome) == (waiting.pk, message.pk, "done")
    assert states() == [STATE.FIRED]
    assert Message.objects.get(sender_type="agent").automation_rule_id == waiting.pk


@pytest.mark.parametrize("through", ["send_message", "stored only"])
def test_no_agent_reply_is_cancelled_when_an_agent_answers(asha, fake_graph, through) -> None:
    rule(WAIT)
    message = customer_writes(asha)
    if through == "send_message":
        agent_answers(asha)  # cancels at once
    else:  # written by a path that does not cancel: the check at firing time still sees it
        MessageFactory(customer=asha, sender_type="agent", agent_id="someone")
    assert fire_due(message.timestamp + timedelta(minutes=11)) == 0
    assert states() == [STATE.CANCELLED]
    assert not AutomationRun.objects.exists()
    assert replies(fake_graph) == (["An agent's answer"] if through == "send_message" else [])


def test_the_bots_answer_does_not_count_as_the_teams(asha, fake_graph) -> None:
    rule({"type": "first_message"}, "Welcome!", priority=1)
    rule(WAIT, "An agent will answer soon")
    message = customer_writes(asha)
    assert fire_due(message.timestamp + timedelta(minutes=10)) == 1
    assert replies(fake_graph) == ["Welcome!", "An agent will answer soon"]


# -- no_customer_reply ------------------------------------------------------------------------


def test_no_customer_reply_follows_up_after_our_message_once(asha, fake_graph) -> None:
    follow_up = rule(FOLLOW_UP, "Still interested, {{name}}?")
    customer_writes(asha)
    assert not AutomationSchedule.objects.exists()  # the customer's message arms no follow-up
    ours = agent_answers(asha)
    schedule = AutomationSchedule.objects.get()
    assert (schedule.message_id, schedule.due_at) == (ours.pk, ours.timestamp + timedelta(
        minutes=5))
    assert fire_due(schedule.due_at - timedelta(seconds=1)) == 0
    assert fire_due(schedule.due_at) == 1
    # The follow-up itself arms no follow-up: two rules would otherwise answer each other.
    assert fire_due(schedule.due_at + timedelta(days=1)) == 0
    assert replies(fake_graph) == ["An agent's answer", "Still interested, Asha?"]
    assert AutomationRun.objects.get().rule_id == follow_up.pk
    assert states() == [STATE.FIRED]


def test_the_bots_message_arms_a_follow_up(asha, fake_graph) -> None:
    rule({"type": "first_message"}, "Which treatment?")
    rule(FOLLOW_UP, "Did you choose one?")
    customer_writes(asha)
    assert fire_due(timezone.now() + timedelta(minutes=5)) == 1
    assert replies(fake_graph) == ["Which treatment?", "Did you choose one?"]


@pytest.mark.parametrize("handled", [True, False])
def test_no_customer_reply_is_cancelled_when_the_customer_writes(asha, fake_graph,
                                                                 handled) -> None:
    rule(FOLLOW_UP)
    write(asha)
    ours = agent_answers(asha)
    answer = write(asha, "yes please")
    if handled:  # the automation task ran: cancelled at once; else beat's check sees the answer
        run_for_message(answer.pk)
    assert fire_due(ours.timestamp + timedelta(minutes=6)) == 0
    assert states() == [STATE.CANCELLED]
    assert replies(fake_graph) == ["An agent's answer"]


# -- conditions and people --------------------------------------------------------------------


def test_conditions_decide_what_is_armed(asha, in_a, fake_graph) -> None:
    other = WhatsAppNumberFactory(display_number="+91 80000 99999")
    rule(WAIT, "not this number", conditions={"numbers": [str(other.pk)], "hours": "any"})
    rule(WAIT, "not while open", conditions={"numbers": [], "hours": "outside"})
    rule(WAIT, "armed", conditions={"numbers": [], "hours": "inside"})
    message = customer_writes(asha)  # business hours not set: always open
    assert fire_due(message.timestamp + timedelta(minutes=10)) == 1
    assert replies(fake_graph) == ["armed"]


def test_a_paused_conversation_or_inactive_rule_cancels_at_firing(asha, fake_graph) -> None:
    rule(WAIT, "paused")
    stopped = rule(WAIT, "inactive")
    message = customer_writes(asha)
    pause(asha, timezone.now() + timedelta(days=1))
    stopped.is_active = False
    stopped.save()
    assert fire_due(message.timestamp + timedelta(minutes=10)) == 0
    assert states() == [STATE.CANCELLED, STATE.CANCELLED]
    assert fake_graph.sent() == []


# -- concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_beats_racing_fire_each_item_once(org_a) -> None:
    with tenant_context(org_a):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        AutomationRuleFactory(trigger=WAIT,
                              actions=[{"type": "set_status", "status": "pending"}])
        messages = [customer_writes(CustomerFactory()) for _ in range(5)]
    due = max(message.timestamp for message in messages) + timedelta(minutes=10)
    start = threading.Barrier(2, timeout=30)
    fired: list[int] = []
    errors: list[BaseException] = []

    def beat() -> None:
        try:
            start.wait()
            fired.append(fire_due(due, batch=2))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and not any(thread.is_alive() for thread in threads)
    assert sum(fired) == 5
    with tenant_context(org_a):
        assert AutomationRun.objects.count() == 5
        assert set(states()) == {STATE.FIRED}


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_delayed_rules_never_arm_or_fire_for_a(org_a, org_b,
                                                                     fake_graph) -> None:
    with tenant_context(org_b):
        AutomationRuleFactory(trigger=WAIT, actions=reply("B's"))
        AutomationRuleFactory(trigger=FOLLOW_UP, actions=reply("B's"))
    with tenant_context(org_a):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        customer = CustomerFactory()
        message = customer_writes(customer)
        agent_answers(customer)
        assert not AutomationSchedule.objects.exists()
    assert fire_due(message.timestamp + timedelta(days=1)) == 0
    assert replies(fake_graph) == ["An agent's answer"]


@pytest.mark.usefixtures("python_scope")
def test_each_organizations_due_items_fire_as_that_organization(org_a, org_b,
                                                                fake_graph) -> None:
    fired_for = {}
    for org in (org_a, org_b):
        with tenant_context(org):
            WhatsAppNumberFactory(display_number="+91 80000 00000")
            AutomationRuleFactory(trigger=WAIT, actions=reply(f"from {org.code}"))
            fired_for[org.code] = customer_writes(CustomerFactory())
    assert fire_due(timezone.now() + timedelta(minutes=10)) == 2
    assert sorted(replies(fake_graph)) == ["from org-a", "from org-b"]
    for org in (org_a, org_b):
        with tenant_context(org):
            run = AutomationRun.objects.get()
            assert run.message_id == fired_for[org.code].pk
            assert run.customer.organization_id == org.pk


@pytest.mark.usefixtures("python_scope")
def test_the_api_shows_only_the_organizations_own_schedules(org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = AutomationRuleFactory(trigger=WAIT).schedules.create(
            customer=(message := MessageFactory()).customer, message=message,
            due_at=timezone.now())
    admin_a = client_for(staff(org_a))
    with tenant_context(org_a):
        mine = AutomationRuleFactory(trigger=WAIT).schedules.create(
            customer=(ours := MessageFactory()).customer, message=ours, due_at=timezone.now())
    listed = admin_a.get("/api/v1/automation-schedules/").json()
    rows: Any = listed["results"] if isinstance(listed, dict) else listed
    assert [row["id"] for row in rows] == [str(mine.pk)]
    assert admin_a.get(f"/api/v1/automation-schedules/{theirs.pk}/").status_code == 404
    assert admin_a.delete(f"/api/v1/automation-schedules/{mine.pk}/").status_code == 403
    with tenant_context(org_a):
        assert AutomationSchedule.objects.filter(pk=mine.pk).exists()  # read-only history


def test_the_command_fires_what_is_due_like_beat(asha, fake_graph) -> None:
    rule(WAIT, "from the command")
    message = customer_writes(asha)
    AutomationSchedule.objects.update(due_at=message.timestamp)  # due now
    out = StringIO()
    call_command("fire_due_automation", stdout=out)
    assert "1 delayed automation rule(s) fired." in out.getvalue()
    assert replies(fake_graph) == ["from the command"]
