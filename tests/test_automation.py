"""Automation: every trigger, condition and action; priority and stop; at most one firing per
message (a webhook delivered twice, a task run twice); never on our own messages; pause and
grace; the away message's throttle; refusals recorded; isolation between organizations."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.automation.hours import check_business_hours, is_open
from crm.automation.services import run_for_message
from crm.models import (
    AutomationRule,
    AutomationRun,
    Customer,
    Message,
    Organization,
    Role,
    WhatsAppNumber,
)
from crm.whatsapp.send import send_message
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.test_admin_support import make_staff, signed_in
from tests.factories import (
    AutomationRuleFactory,
    CustomerFactory,
    MessageFactory,
    ReferrerTrackingFactory,
    UserFactory,
    WhatsAppNumberFactory,
)

CLOSED = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ALWAYS = {day: [["00:00", "24:00"]] for day in CLOSED}


def reply(body: str) -> list[dict[str, Any]]:
    return [{"type": "send", "message": {"type": "text", "text": {"body": body}}}]


def replies(fake_graph: FakeGraph) -> list[str]:
    """The text bodies the fake Graph API received, in order."""
    return [call.body["text"]["body"] for call in fake_graph.sent() if "text" in call.body]


@pytest.fixture
def number(in_a: Organization) -> WhatsAppNumber:
    # MessageFactory's messages are written to 918000000000.
    return WhatsAppNumberFactory(display_number="+91 80000 00000")


@pytest.fixture
def asha(number: WhatsAppNumber) -> Customer:
    return CustomerFactory(name="Asha", wa_id="919812345678")


def write(customer: Customer, body: str = "hello", **fields: Any) -> Message:
    """An inbound message of `customer`, now (or at `timestamp`)."""
    return MessageFactory(customer=customer, body=body, **fields)


def rule(trigger: dict[str, Any], body: str = "auto", **fields: Any) -> AutomationRule:
    return AutomationRuleFactory(trigger=trigger, actions=fields.pop("actions", reply(body)),
                                 **fields)


# -- triggers ---------------------------------------------------------------------------------


def test_first_message_greets_a_new_customer_once_by_name(asha, fake_graph) -> None:
    welcome = rule({"type": "first_message"}, "Hi {{name}} ({{phone}}), welcome!")
    assert run_for_message(write(asha).pk) == [welcome]
    assert run_for_message(write(asha).pk) == []
    assert replies(fake_graph) == ["Hi Asha (919812345678), welcome!"]
    sent = Message.objects.get(sender_type="agent")
    assert sent.automation_rule_id == welcome.pk  # the inbox shows it as the bot's


@pytest.mark.parametrize(("after_days", "fires"), [(7, True), (30, False), (None, False)])
def test_first_message_after_days_of_silence(asha, fake_graph, after_days, fires) -> None:
    write(asha, timestamp=timezone.now() - timedelta(days=10))
    trigger = {"type": "first_message"} | ({"after_days": after_days} if after_days else {})
    rule(trigger)
    assert bool(run_for_message(write(asha).pk)) is fires


@pytest.mark.parametrize(("match", "keyword", "text", "fires"), [
    ("exact", "price", "  PRICE ", True),
    ("exact", "price", "price?", False),
    ("contains", "cost", "What's the COST of laser?", True),
    ("contains", "precio", "PRÉCIO por favor", True),
    ("contains", "café", "cafe timings", True),
    ("starts_with", "hi", "Hi there", True),
    ("starts_with", "there", "Hi there", False),
])
def test_keyword_matching_ignores_case_and_accents(asha, fake_graph, match, keyword, text,
                                                   fires) -> None:
    rule({"type": "keyword", "keywords": ["unrelated", keyword], "match": match})
    assert bool(run_for_message(write(asha, text).pk)) is fires
    assert len(replies(fake_graph)) == int(fires)


@pytest.mark.parametrize(("wanted", "came_from", "fires"), [
    (None, "120201234567890123", True),
    ("120201234567890123", "120201234567890123", True),
    ("999", "120201234567890123", False),
    (None, None, False),
])
def test_referral_from_a_click_to_whatsapp_ad(asha, fake_graph, wanted, came_from,
                                              fires) -> None:
    rule({"type": "referral"} | ({"source_id": wanted} if wanted else {}))
    message = write(asha)
    if came_from:
        ReferrerTrackingFactory(customer=asha, message_id=message.message_id,
                                source_id=came_from)
    assert bool(run_for_message(message.pk)) is fires


@pytest.mark.parametrize(("raw", "fires"), [
    ({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {
        "id": "book-yes", "title": "Yes"}}}, True),
    ({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {
        "id": "hair-removal", "title": "Hair removal"}}}, True),
    ({"type": "button", "button": {"payload": "book-yes", "text": "Yes"}}, True),
    ({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {
        "id": "book-no", "title": "No"}}}, False),
    ({"type": "text", "text": {"body": "book-yes"}}, False),
])
def test_button_or_list_reply_by_id(asha, fake_graph, raw, fires) -> None:
    rule({"type": "button", "ids": ["book-yes", "hair-removal"]})
    message = write(asha, "Yes", type=raw["type"], raw_message=raw)
    assert bool(run_for_message(message.pk)) is fires


def test_outside_hours_answers_at_most_once_per_every_hours(asha, in_a, fake_graph) -> None:
    Organization.objects.filter(pk=in_a.pk).update(business_hours=CLOSED)
    away = rule({"type": "outside_hours", "every_hours": 12}, "We are closed")
    assert run_for_message(write(asha).pk) == [away]
    assert run_for_message(write(asha).pk) == []  # throttled
    AutomationRun.objects.update(created_at=timezone.now() - timedelta(hours=13))
    assert run_for_message(write(asha).pk) == [away]
    assert replies(fake_graph) == ["We are closed", "We are closed"]


def test_outside_hours_is_silent_while_open(asha, in_a, fake_graph) -> None:
    Organization.objects.filter(pk=in_a.pk).update(business_hours=ALWAYS)
    rule({"type": "outside_hours"})
    assert run_for_message(write(asha).pk) == []
    assert fake_graph.sent() == []


# -- conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "business_hours", "fires"), [
    ("inside", ALWAYS, True), ("inside", CLOSED, False),
    ("outside", CLOSED, True), ("outside", ALWAYS, False),
    ("any", CLOSED, True), ("any", ALWAYS, True),
])
def test_hours_condition(asha, in_a, fake_graph, hours, business_hours, fires) -> None:
    Organization.objects.filter(pk=in_a.pk).update(business_hours=business_hours)
    rule({"type": "first_message"}, conditions={"numbers": [], "hours": hours})
    assert bool(run_for_message(write(asha).pk)) is fires


def test_numbers_condition_names_the_receiving_numbers(asha, number, fake_graph) -> None:
    other = WhatsAppNumberFactory(display_number="+91 80000 99999")
    rule({"type": "keyword", "keywords": ["hello"]}, "other",
         conditions={"numbers": [str(other.pk)]})
    rule({"type": "keyword", "keywords": ["hello"]}, "this",
         conditions={"numbers": [str(number.pk)]})
    rule({"type": "keyword", "keywords": ["hello"]}, "all", conditions={"numbers": []})
    run_for_message(write(asha, "hello").pk)
    assert sorted(replies(fake_graph)) == ["all", "this"]


# -- actions, priority ------------------------------------------------------------------------


def test_assign_to_a_given_agent(asha, fake_graph) -> None:
    agent = UserFactory()
    rule({"type": "first_message"}, actions=[{"type": "assign", "to": str(agent.pk)}])
    run_for_message(write(asha).pk)
    assert Customer.objects.get(pk=asha.pk).user_id == agent.pk


def test_round_robin_cycles_through_the_organizations_agents(number, fake_graph) -> None:
    agents = sorted([UserFactory(), UserFactory()], key=lambda u: str(u.pk))
    UserFactory(org_admin=True)  # administrators are not in the rotation
    rule({"type": "first_message"}, actions=[{"type": "assign", "to": "round_robin"}])
    chosen = []
    for _ in range(3):
        customer = CustomerFactory()
        run_for_message(write(customer).pk)
        chosen.append(Customer.objects.get(pk=customer.pk).user_id)
    assert chosen == [agents[0].pk, agents[1].pk, agents[0].pk]


def test_set_status(asha, fake_graph) -> None:
    Customer.objects.filter(pk=asha.pk).update(customer_status="resolved")
    rule({"type": "first_message"}, actions=[{"type": "set_status", "status": "open"}])
    run_for_message(write(asha).pk)
    assert Customer.objects.get(pk=asha.pk).customer_status == "open"


def test_rules_run_in_priority_order_until_one_stops(asha, fake_graph) -> None:
    rule({"type": "keyword", "keywords": ["price"]}, "third", priority=30)
    rule({"type": "keyword", "keywords": ["price"]}, "first", priority=10)
    rule({"type": "keyword", "keywords": ["price"]}, "second", priority=20,
         stop_processing=True)
    rule({"type": "keyword", "keywords": ["price"]}, "inactive", priority=5, is_active=False)
    run_for_message(write(asha, "price").pk)
    assert replies(fake_graph) == ["first", "second"]


def test_a_refusal_is_recorded_on_the_run_and_not_retried(asha, fake_graph) -> None:
    fake_graph.fail(131026)  # Meta: message undeliverable
    welcome = rule({"type": "first_message"})
    message = write(asha)
    assert run_for_message(message.pk) == [welcome]
    run = AutomationRun.objects.get()
    assert run.outcome == "refused" and "131026" in run.error
    failed = Message.objects.get(sender_type="agent")
    assert (failed.delivery_status, failed.automation_rule_id) == ("failed", welcome.pk)
    assert run_for_message(message.pk) == []
    assert len(fake_graph.sent()) == 1


# -- once per message, never on ours, left to people ------------------------------------------


def test_running_twice_for_one_message_replies_once(asha, fake_graph) -> None:
    rule({"type": "keyword", "keywords": ["price"]})
    message = write(asha, "price")
    run_for_message(message.pk)
    run_for_message(message.pk)
    assert len(fake_graph.sent()) == 1
    assert AutomationRun.objects.filter(message=message).count() == 1


def test_our_own_messages_never_trigger(asha, in_a, fake_graph) -> None:
    Organization.objects.filter(pk=in_a.pk).update(agent_reply_grace_minutes=0)
    rule({"type": "keyword", "keywords": ["price"]})
    write(asha, "hi")
    ours = send_message(asha, {"type": "text", "text": {"body": "price list"}})
    assert run_for_message(ours.pk) == []
    assert len(fake_graph.sent()) == 1


def test_a_paused_conversation_is_left_alone_until_the_pause_ends(asha, fake_graph) -> None:
    rule({"type": "keyword", "keywords": ["price"]})
    Customer.objects.filter(pk=asha.pk).update(
        automation_paused_until=timezone.now() + timedelta(hours=1))
    assert run_for_message(write(asha, "price").pk) == []
    Customer.objects.filter(pk=asha.pk).update(
        automation_paused_until=timezone.now() - timedelta(seconds=1))
    assert len(run_for_message(write(asha, "price").pk)) == 1


@pytest.mark.parametrize(("answered_minutes_ago", "fires"), [(5, False), (45, True)])
def test_a_conversation_an_agent_answered_recently_is_left_to_the_agent(
        asha, fake_graph, answered_minutes_ago, fires) -> None:
    rule({"type": "keyword", "keywords": ["price"]})
    MessageFactory(customer=asha, sender_type="agent", agent_id="someone",
                   timestamp=timezone.now() - timedelta(minutes=answered_minutes_ago))
    assert bool(run_for_message(write(asha, "price").pk)) is fires


def test_the_bots_own_replies_do_not_count_as_an_agents(asha, fake_graph) -> None:
    rule({"type": "keyword", "keywords": ["price"]})
    run_for_message(write(asha, "price").pk)
    assert len(run_for_message(write(asha, "price again").pk)) == 1


# -- business hours ---------------------------------------------------------------------------


def test_is_open_reads_the_hours_in_the_organizations_time_zone(in_a) -> None:
    in_a.time_zone = "Asia/Kolkata"
    in_a.business_hours = CLOSED | {"mon": [["09:00", "13:00"], ["14:00", "18:00"]]}
    monday = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday
    assert is_open(in_a, monday + timedelta(hours=4))  # 09:30 in Kolkata
    assert not is_open(in_a, monday + timedelta(hours=8, minutes=10))  # 13:40: lunch
    assert not is_open(in_a, monday + timedelta(hours=13))  # 18:30
    assert not is_open(in_a, monday - timedelta(hours=12))  # Sunday
    in_a.business_hours = {}
    assert is_open(in_a, monday)  # hours not set: always open


@pytest.mark.parametrize(("hours", "problem"), [
    (CLOSED | {"mon": [["18:00", "09:00"]]}, "mon[0]: the start must be before the end"),
    (CLOSED | {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}, "mon: "),
    (CLOSED | {"mon": [["9:00", "18:00"]]}, "mon[0]:"),
    ({"mon": []}, "tue: missing"),
    (CLOSED | {"funday": []}, "funday: not a weekday"),
])
def test_malformed_business_hours_are_refused(hours, problem) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        check_business_hours(hours)


# -- the webhook, end to end ------------------------------------------------------------------


@override_settings(WHATSAPP_APP_SECRET=wp.SECRET)
def test_the_same_webhook_twice_replies_once(org_a, eager, fake_graph, client,
                                             django_capture_on_commit_callbacks) -> None:
    with tenant_context(org_a):
        number = WhatsAppNumberFactory(display_number="+1 555-000 1111")
        rule({"type": "first_message"}, "Welcome!")
    delivery = wp.delivery(wp.entry(wp.change(
        number.phone_number_id, "15550001111",
        messages=[wp.text("919812345678", "hi", at=int(timezone.now().timestamp())
                          - wp.BASE_TIME)])))
    raw = wp.body(delivery)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post("/webhooks/whatsapp/", raw, content_type="application/json",
                                 headers={"X-Hub-Signature-256": wp.signature(raw)})
        assert answer.status_code == 200
    assert replies(fake_graph) == ["Welcome!"]
    with tenant_context(org_a):
        assert AutomationRun.objects.get().outcome == "done"


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_rules_never_fire(org_a, org_b, fake_graph) -> None:
    with tenant_context(org_b):
        AutomationRuleFactory(trigger={"type": "first_message"})
        AutomationRuleFactory(trigger={"type": "keyword", "keywords": ["price"]})
    with tenant_context(org_a):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        message = write(CustomerFactory(), "price")
        assert run_for_message(message.pk) == []
        assert not AutomationRun.objects.exists()
    assert fake_graph.sent() == []


@pytest.mark.usefixtures("python_scope")
def test_a_message_of_another_organization_is_not_found(org_a, org_b, fake_graph) -> None:
    with tenant_context(org_b):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        AutomationRuleFactory(trigger={"type": "first_message"})
        theirs = write(CustomerFactory())
    with tenant_context(org_a):
        assert run_for_message(theirs.pk) == []
    assert fake_graph.sent() == []


def test_of_two_messages_in_one_second_only_the_first_is_the_first(asha, fake_graph) -> None:
    rule({"type": "first_message"})
    at = timezone.now()
    first, second = write(asha, timestamp=at), write(asha, timestamp=at)
    assert run_for_message(second.pk) == []
    assert len(run_for_message(first.pk)) == 1


# -- the inbox ----------------------------------------------------------------------------------


def test_the_inbox_shows_the_bots_messages_with_their_rule(org_a, fake_graph) -> None:
    with tenant_context(org_a):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        customer = CustomerFactory(name="Asha")
        AutomationRuleFactory(name="Welcome rule", trigger={"type": "first_message"})
        run_for_message(write(customer).pk)
        send_message(customer, {"type": "text", "text": {"body": "An agent here"}})
    html = signed_in(make_staff(org_a, Role.AGENT)).get(
        f"/inbox/{customer.pk}/thread/").content.decode()
    assert html.count("Bot · Welcome rule") == 1  # the agent's own reply is not the bot's


def test_the_inbox_pauses_and_resumes_the_bot(org_a, fake_graph) -> None:
    with tenant_context(org_a):
        customer = CustomerFactory()
    client = signed_in(make_staff(org_a, Role.AGENT))
    url = f"/inbox/{customer.pk}/automation/"
    html = client.post(url, {"hours": "24"}).content.decode()
    assert "Resume bot" in html
    with tenant_context(org_a):
        until = Customer.objects.get(pk=customer.pk).automation_paused_until
    assert timedelta(hours=23) < until - timezone.now() <= timedelta(hours=24)
    assert "Pause bot" in client.post(url, {"hours": "0"}).content.decode()
    with tenant_context(org_a):
        assert Customer.objects.get(pk=customer.pk).automation_paused_until is None
    assert client.post(url, {"hours": "-1"}).status_code == 400


@pytest.mark.usefixtures("python_scope")
def test_the_inbox_cannot_pause_another_organizations_conversation(org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = CustomerFactory()
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    assert client.post(f"/inbox/{theirs.pk}/automation/", {"hours": "24"}).status_code == 404
    with tenant_context(org_b):
        assert Customer.objects.get(pk=theirs.pk).automation_paused_until is None


@override_settings(WHATSAPP_APP_SECRET=wp.SECRET)
def test_a_broker_that_is_down_does_not_fail_the_webhook(org_a, client, monkeypatch,
                                                         django_capture_on_commit_callbacks
                                                         ) -> None:
    from crm.automation import tasks

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.run_automation, "delay", down)
    with tenant_context(org_a):
        number = WhatsAppNumberFactory(display_number="+1 555-000 1111")
    raw = wp.body(wp.delivery(wp.entry(wp.change(
        number.phone_number_id, "15550001111", messages=[wp.text("919812345678", "hi")]))))
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post("/webhooks/whatsapp/", raw, content_type="application/json",
                             headers={"X-Hub-Signature-256": wp.signature(raw)})
    assert answer.status_code == 200
    with tenant_context(org_a):
        assert Message.objects.filter(body="hi").count() == 1


def test_stored_messages_are_queued_ten_to_a_task_and_one_failing_spares_the_others(
    org_a, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from crm.automation import services, tasks

    queued: list[list[int]] = []
    monkeypatch.setattr(tasks.run_automation, "delay", queued.append)
    with tenant_context(org_a), django_capture_on_commit_callbacks(execute=True):
        tasks.queue_after_commit(range(1, 26))
    assert queued == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]

    tried: list[int] = []

    def run(message_id: int) -> list[Any]:
        tried.append(message_id)
        if message_id == 2:
            raise RuntimeError("rule broke")
        return ["fired"]

    monkeypatch.setattr(services, "run_for_message", run)
    with pytest.raises(RuntimeError, match="rule broke"):
        tasks.run_automation([1, 2, 3])
    assert tried == [1, 2, 3]
