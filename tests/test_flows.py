"""Guided flows: steps checked before saving (the path named), branches, every `expect` kind,
retries, expiry, end actions (a lead with the answers, an assignment, a closing message), one
advance per inbound message, the 24-hour window, and isolation between organizations."""
from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.automation.flows import MOST_RETRIES
from crm.automation.services import run_for_message
from crm.models import (
    AutomationRule,
    Customer,
    Flow,
    FlowLog,
    FlowSession,
    Lead,
    Message,
    NumberFlowConfig,
    Organization,
    Role,
    User,
    WhatsAppNumber,
)
from tenancy.context import tenant_context
from tests.factories import (
    AutomationRuleFactory,
    CustomerFactory,
    FlowFactory,
    FlowSessionFactory,
    MessageFactory,
    NumberFlowConfigFactory,
    UserFactory,
    WhatsAppNumberFactory,
)
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for, staff

URL = "/api/v1/flows/"


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def buttons(body: str, *choices: tuple[str, str]) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {
        "type": "button", "body": {"text": body},
        "action": {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}}
                               for i, t in choices]}}}


def rows(body: str, *choices: tuple[str, str]) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {
        "type": "list", "body": {"text": body},
        "action": {"button": "Choose", "sections": [
            {"rows": [{"id": i, "title": t} for i, t in choices]}]}}}


def appointment(agent: User | None = None) -> list[dict[str, Any]]:
    """Treatment (buttons) -> city -> people -> day -> phone -> callback (list) -> end."""
    done_actions: list[dict[str, Any]] = [{"type": "create_lead"}]
    if agent is not None:
        done_actions.append({"type": "assign", "to": str(agent.pk)})
    return [
        {"id": "treatment", "message": buttons("Which treatment?", ("hair", "Hair"),
                                               ("skin", "Skin"), ("other", "Other")),
         "expect": "choice", "answer": "treatment", "retry": "Please tap a button.",
         "next": {"hair": "city", "skin": "city", "other": "callback"}},
        {"id": "city", "message": text("Your city, {{name}}?"), "expect": "text",
         "answer": "city", "next": "people"},
        {"id": "people", "message": text("How many people?"), "expect": "number",
         "answer": "people", "retry": "Please give a number, such as 2.", "next": "day"},
        {"id": "day", "message": text("Which day (DD/MM/YYYY)?"), "expect": "date",
         "answer": "day", "next": "phone"},
        {"id": "phone", "message": text("A number to call you on?"), "expect": "phone",
         "answer": "phone_number", "next": "callback"},
        {"id": "callback", "message": rows("Shall we call you?", ("yes", "Yes please"),
                                           ("no", "No thanks")),
         "expect": "choice", "answer": "callback", "next": {"yes": "done", "no": "bye"}},
        {"id": "done", "message": text("Thanks {{name}}, see you in {{city}}."),
         "actions": done_actions},
        {"id": "bye", "message": text("Bye!")},
    ]


def sent(fake_graph: FakeGraph) -> list[str]:
    """What the fake Graph API received: text bodies, and interactive messages' body texts."""
    return [call.body["text"]["body"] if "text" in call.body
            else call.body["interactive"]["body"]["text"] for call in fake_graph.sent()]


@pytest.fixture
def number(in_a: Organization) -> WhatsAppNumber:
    return WhatsAppNumberFactory(display_number="+91 80000 00000")


@pytest.fixture
def asha(number: WhatsAppNumber) -> Customer:
    return CustomerFactory(name="Asha", wa_id="919812345678")


def write(customer: Customer, body: str = "hi", **fields: Any) -> Message:
    return MessageFactory(customer=customer, body=body, **fields)


def tap(customer: Customer, choice: str, title: str, kind: str = "button_reply") -> Message:
    """The customer taps a reply button (or, with kind list_reply, a list row)."""
    return MessageFactory(customer=customer, body=title, type="interactive", raw_message={
        "interactive": {"type": kind, kind: {"id": choice, "title": title}}})


def start(steps: list[dict[str, Any]], **flow: Any) -> tuple[Flow, AutomationRule]:
    """A flow, and a welcome rule that starts it."""
    made = FlowFactory(steps=steps, **flow)
    welcome = AutomationRuleFactory(trigger={"type": "first_message"},
                                    actions=[{"type": "start_flow", "flow": str(made.pk)}])
    return made, welcome


def session_of(customer: Customer) -> FlowSession:
    return FlowSession.objects.get(customer=customer)


# -- the API: checked before saving -----------------------------------------------------------


@pytest.fixture
def admin_a(org_a):
    return client_for(staff(org_a))


def test_an_org_admin_saves_a_flow_and_an_agent_reads_it(admin_a, org_a) -> None:
    response = admin_a.post(URL, {"name": "Appointments", "steps": appointment()},
                            format="json")
    assert response.status_code == 201, response.content
    agent = client_for(staff(org_a, Role.AGENT))
    path = f"{URL}{response.json()['id']}/"
    assert agent.get(path).json()["steps"][0]["id"] == "treatment"
    assert agent.patch(path, {"name": "x"}, format="json").status_code == 403
    assert agent.post(URL, {"name": "x", "steps": appointment()}, format="json"
                      ).status_code == 403


def _broken(change: str) -> list[dict[str, Any]]:
    steps = copy.deepcopy(appointment())
    if change == "unreachable":
        steps[5]["next"]["no"] = "done"  # nothing leads to "bye" any more
    elif change == "dangling":
        steps[0]["next"]["hair"] = "colour"
    elif change == "missing_choice":
        del steps[0]["next"]["other"]
    elif change == "unknown_choice":
        steps[5]["next"]["blue"] = "done"
    elif change == "expect":
        steps[2]["expect"] = "colour"
    elif change == "choice_on_text":
        steps[1]["expect"] = "choice"
    elif change == "message":
        steps[1]["message"] = {"type": "text", "text": {}}
    elif change == "image":
        steps[7]["message"] = {"type": "image", "image": {"link": "https://x.test/a.png"}}
    elif change == "placeholder":
        steps[6]["message"] = text("See you in {{town}}")
    elif change == "end_action":
        steps[6]["actions"] = [{"type": "send"}]
    elif change == "duplicate":
        steps[7]["id"] = "done"
    return steps


@pytest.mark.parametrize(("change", "path", "says"), [
    ("unreachable", "steps[7].id", "no step leads here"),
    ("dangling", "steps[0].next.hair", "no step has this id"),
    ("missing_choice", "steps[0].next.other", "required"),
    ("unknown_choice", "steps[5].next.blue", "not a choice"),
    ("expect", "steps[2].expect", "choice, number, date, phone, text"),
    ("choice_on_text", "steps[1].expect", "buttons or a list"),
    ("message", "steps[1].message.text.body", "required"),
    ("image", "steps[7].message.type", "a text, buttons or a list"),
    ("placeholder", "steps[6].message.text.body", "{{city}}"),
    ("end_action", "steps[6].actions[0].type", "create_lead, assign"),
    ("duplicate", "steps[7].id", "another step has this id"),
])
def test_a_malformed_flow_is_400_naming_the_path(admin_a, org_a, change, path, says) -> None:
    response = admin_a.post(URL, {"name": "Broken", "steps": _broken(change)}, format="json")
    assert response.status_code == 400, response.content
    assert says in " ".join(response.json()[path])
    with tenant_context(org_a):
        assert not Flow.objects.exists()


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_flow_is_404(admin_a, org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = FlowFactory()
    assert admin_a.get(f"{URL}{theirs.pk}/").status_code == 404
    assert admin_a.patch(f"{URL}{theirs.pk}/", {"name": "mine"}, format="json"
                         ).status_code == 404
    assert admin_a.delete(f"{URL}{theirs.pk}/").status_code == 404
    rule = {"name": "Steal", "trigger": {"type": "first_message"},
            "actions": [{"type": "start_flow", "flow": str(theirs.pk)}]}
    response = admin_a.post("/api/v1/automation-rules/", rule, format="json")
    assert response.status_code == 400
    assert "no flow of your organization" in " ".join(response.json()["actions[0].flow"])
    with tenant_context(org_b):
        assert Flow.objects.get(pk=theirs.pk).name == theirs.name


def test_the_admin_checks_a_flows_steps(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    form = {"name": "Appointments", "is_active": "on", "expire_minutes": "30"}
    bad = client.post(admin_url(Flow, "add"), {**form, "steps": json.dumps(_broken("dangling"))})
    assert bad.status_code == 200
    assert "steps[0].next.hair" in bad.context["adminform"].form.errors["steps"][0]
    good = client.post(admin_url(Flow, "add"), {**form, "steps": json.dumps(appointment())})
    assert good.status_code == 302
    with tenant_context(org_a):
        assert Flow.objects.get().steps == appointment()


# -- running a flow ---------------------------------------------------------------------------


def test_the_appointment_flow_end_to_end(asha, fake_graph) -> None:
    agent = UserFactory()
    flow, welcome = start(appointment(agent))
    assert run_for_message(write(asha).pk) == [welcome]
    run_for_message(tap(asha, "hair", "Hair").pk)
    for reply in ("Mumbai", "2", "24/12/2026", "+91 98123 45678"):
        assert run_for_message(write(asha, reply).pk) == []  # the flow took it, not the rules
    run_for_message(tap(asha, "yes", "Yes please", "list_reply").pk)
    assert sent(fake_graph) == [
        "Which treatment?", "Your city, Asha?", "How many people?", "Which day (DD/MM/YYYY)?",
        "A number to call you on?", "Shall we call you?", "Thanks Asha, see you in Mumbai."]
    answers = {"treatment": "Hair", "city": "Mumbai", "people": 2, "day": "2026-12-24",
               "phone_number": "919812345678", "callback": "Yes please"}
    session = session_of(asha)
    assert (session.state, session.answers) == ("completed", answers)
    lead = Lead.objects.get(customer=asha)
    assert lead.appointment_details == answers
    assert (lead.city, lead.treatment_name, lead.first_name) == ("Mumbai", "Hair", "Asha")
    assert Customer.objects.get(pk=asha.pk).user_id == agent.pk
    assert set(Message.objects.filter(sender_type="agent").values_list(
        "automation_rule", flat=True)) == {welcome.pk}  # the bot's, never an agent's
    logged = list(FlowLog.objects.filter(wa_id=asha.wa_id).order_by("created_at")
                  .values_list("step", "description"))
    assert ("city", "answered: Mumbai") in logged and ("done", "completed") in logged
    assert {row.flow_type for row in FlowLog.objects.all()} == {str(flow.pk)}


def test_a_choice_typed_as_its_title_and_another_branch(asha, fake_graph) -> None:
    start(appointment())
    run_for_message(write(asha).pk)
    run_for_message(write(asha, "  OTHER ").pk)  # typed, not tapped: the title matches
    run_for_message(tap(asha, "no", "No thanks", "list_reply").pk)
    assert sent(fake_graph) == ["Which treatment?", "Shall we call you?", "Bye!"]
    session = session_of(asha)
    assert (session.state, session.answers) == (
        "completed", {"treatment": "Other", "callback": "No thanks"})
    assert not Lead.objects.exists()  # "bye" creates none


@pytest.mark.parametrize(("expect", "reply", "value"), [
    ("number", "12", 12), ("number", "1,250.5", 1250.5), ("number", "twelve", None),
    ("date", "2026-12-24", "2026-12-24"), ("date", "24.12.2026", "2026-12-24"),
    ("date", "31/02/2026", None), ("date", "tomorrow", None),
    ("phone", "+91 (98123) 45678", "919812345678"), ("phone", "12345", None),
    ("phone", "call me", None), ("text", "  Bandra West ", "Bandra West"),
])
def test_each_expect_kind_keeps_a_valid_reply_and_retries_an_invalid_one(
        asha, fake_graph, expect, reply, value) -> None:
    steps = [{"id": "ask", "message": text("?"), "expect": expect, "answer": "got",
              "retry": "Again?", "next": "end"}, {"id": "end", "message": text("Got {{got}}")}]
    start(steps)
    run_for_message(write(asha).pk)
    run_for_message(write(asha, reply).pk)
    session = session_of(asha)
    if value is None:
        assert (session.state, session.step, sent(fake_graph)[-1]) == ("active", "ask", "Again?")
    else:
        assert (session.state, session.answers) == ("completed", {"got": value})
        assert sent(fake_graph)[-1] == f"Got {value}"


def test_retries_then_the_session_gives_up_and_the_rules_answer(asha, fake_graph) -> None:
    start(appointment())
    prices = AutomationRuleFactory(trigger={"type": "keyword", "keywords": ["price"]},
                                   actions=[{"type": "send", "message": text("Prices: ...")}])
    run_for_message(write(asha).pk)
    for _ in range(MOST_RETRIES):
        assert run_for_message(write(asha, "price").pk) == []
    assert sent(fake_graph)[1:] == ["Please tap a button."] * MOST_RETRIES
    assert run_for_message(write(asha, "price").pk) == [prices]
    session = session_of(asha)
    assert (session.state, session.error) == ("stopped", "too many unexpected replies")


def test_a_step_without_a_retry_prompt_asks_again(asha, fake_graph) -> None:
    start(appointment())
    run_for_message(write(asha).pk)
    run_for_message(tap(asha, "hair", "Hair").pk)
    run_for_message(write(asha, "", type="image").pk)  # "city" has no retry: asked again
    assert sent(fake_graph)[-2:] == ["Your city, Asha?"] * 2


def test_an_idle_session_expires_and_the_rules_answer(asha, fake_graph) -> None:
    start(appointment(), expire_minutes=30)
    prices = AutomationRuleFactory(trigger={"type": "keyword", "keywords": ["price"]},
                                   actions=[{"type": "send", "message": text("Prices: ...")}])
    run_for_message(write(asha).pk)
    FlowSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert run_for_message(write(asha, "price").pk) == [prices]
    assert session_of(asha).state == "expired"
    assert sent(fake_graph) == ["Which treatment?", "Prices: ..."]
    assert FlowLog.objects.filter(description="expired").count() == 1


def test_a_reply_advances_the_flow_once_however_often_it_is_run(asha, fake_graph) -> None:
    start(appointment())
    run_for_message(write(asha).pk)
    reply = tap(asha, "hair", "Hair")
    for _ in range(3):  # a redelivered webhook, a retried task
        assert run_for_message(reply.pk) == []
    assert sent(fake_graph) == ["Which treatment?", "Your city, Asha?"]
    assert session_of(asha).step == "city"
    assert FlowLog.objects.filter(description__startswith="answered").count() == 1


def test_a_reply_outside_the_window_ends_the_session_with_the_reason(asha, fake_graph) -> None:
    flow, welcome = start(appointment())
    session = FlowSessionFactory(flow=flow, rule=welcome, customer=asha, step="city",
                                 expires_at=timezone.now() + timedelta(days=2))
    # The reply came 25 hours ago (a task run late): free text may no longer be sent.
    run_for_message(write(asha, "Mumbai", timestamp=timezone.now() - timedelta(hours=25)).pk)
    session.refresh_from_db()
    assert session.state == "stopped" and "outside_window" in session.error
    assert fake_graph.sent() == []
    refused = FlowLog.objects.get(description__startswith="refused")
    assert (refused.step, refused.status_code) == ("people", 409)
    assert run_for_message(write(asha, "3").pk) == []  # ended: no endless retries
    assert fake_graph.sent() == []


def test_a_session_whose_step_was_edited_away_ends_and_the_rules_answer(asha, fake_graph
                                                                        ) -> None:
    flow, _ = start(appointment())
    run_for_message(write(asha).pk)
    run_for_message(tap(asha, "hair", "Hair").pk)
    flow.steps = [step for step in appointment() if step["id"] not in ("city", "people")]
    flow.steps[0]["next"] = {"hair": "day", "skin": "day", "other": "callback"}
    Flow.objects.filter(pk=flow.pk).update(steps=flow.steps)
    prices = AutomationRuleFactory(trigger={"type": "keyword", "keywords": ["price"]},
                                   actions=[{"type": "send", "message": text("Prices: ...")}])
    assert run_for_message(write(asha, "price in Mumbai?").pk) == [prices]
    session = session_of(asha)
    assert (session.state, session.error) == ("stopped", "the step left the flow")


def test_a_new_flow_replaces_an_active_session(asha, fake_graph) -> None:
    first, _ = start(appointment())
    run_for_message(write(asha).pk)
    FlowSession.objects.filter(customer=asha).update(expires_at=timezone.now())
    second = FlowFactory()
    AutomationRuleFactory(trigger={"type": "keyword", "keywords": ["book"]},
                          actions=[{"type": "start_flow", "flow": str(second.pk)}])
    run_for_message(write(asha, "book").pk)
    assert FlowSession.objects.get(customer=asha, state="active").flow_id == second.pk
    assert sent(fake_graph)[-1] == "Your city?"


def test_the_rule_action_create_lead(asha, fake_graph) -> None:
    AutomationRuleFactory(trigger={"type": "first_message"}, actions=[{"type": "create_lead"}])
    run_for_message(write(asha).pk)
    lead = Lead.objects.get()
    assert (lead.customer_id, lead.wa_id, lead.lead_source) == (asha.pk, asha.wa_id, "WhatsApp")


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_flows_never_run_for_our_customers(org_a, org_b,
                                                                 fake_graph) -> None:
    with tenant_context(org_b):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        theirs = CustomerFactory(wa_id="919812345678")
        b_session = FlowSessionFactory(customer=theirs)
    with tenant_context(org_a):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        ours = CustomerFactory(wa_id="919812345678")  # the same person writes to both
        assert run_for_message(write(ours, "Mumbai").pk) == []
        assert not FlowSession.objects.exists() and not FlowLog.objects.exists()
    assert fake_graph.sent() == []
    with tenant_context(org_b):
        assert FlowSession.objects.get(pk=b_session.pk).step == "city"


# -- a number's own flow (number_flow_configs) ------------------------------------------------


def _numbers_welcome() -> AutomationRule:
    """A welcome rule starting whichever flow the receiving number's config names."""
    return AutomationRuleFactory(trigger={"type": "first_message"},
                                 actions=[{"type": "start_flow", "flow": "number"}])


def test_each_number_starts_the_flow_its_config_names(number, fake_graph) -> None:
    other = WhatsAppNumberFactory(display_number="+91 80000 11111")
    ours = FlowFactory(steps=[{"id": "hi", "message": text("Clinic flow")}])
    theirs = FlowFactory(steps=[{"id": "hi", "message": text("Salon flow")}])
    NumberFlowConfigFactory(number=number, flow_key=str(ours.pk))
    NumberFlowConfigFactory(number=other, flow_key=str(theirs.pk))
    _numbers_welcome()
    asha = CustomerFactory(wa_id="919812345678")
    ravi = CustomerFactory(wa_id="919812345679")
    run_for_message(write(asha).pk)
    run_for_message(write(ravi, to_wa_id="918000011111").pk)
    assert sent(fake_graph) == ["Clinic flow", "Salon flow"]
    assert FlowSession.objects.get(customer=asha).flow == ours
    assert FlowSession.objects.get(customer=ravi).flow == theirs


@pytest.mark.parametrize("config", [
    {"is_enabled": False},
    {"auto_enable_from": timezone.now() + timedelta(days=1)},
    {"auto_enable_to": timezone.now() - timedelta(days=1)},
    {"flow_key": "lead_appointment_flow"},  # wb-crm's key: its flow was code, not a row
])
def test_a_disabled_or_unnamed_number_flow_starts_nothing_and_says_why(
        number, fake_graph, config) -> None:
    flow = FlowFactory(steps=[{"id": "hi", "message": text("Clinic flow")}])
    NumberFlowConfigFactory(number=number, **{"flow_key": str(flow.pk), **config})
    rule = _numbers_welcome()
    asha = CustomerFactory(wa_id="919812345678")
    run_for_message(write(asha).pk)
    assert fake_graph.sent() == [] and not FlowSession.objects.exists()
    run = rule.runs.get()
    assert run.outcome == "failed" and "number flow configs" in run.error


@pytest.mark.usefixtures("python_scope")
def test_a_number_flow_config_names_only_a_flow_of_its_organization(admin_a, org_a, org_b
                                                                    ) -> None:
    with tenant_context(org_b):
        theirs = FlowFactory()
    with tenant_context(org_a):
        mine = FlowFactory()
        number = WhatsAppNumberFactory()
    config = {"phone_number": number.phone_number_id, "display_number": number.display_number,
              "flow_name": "Welcome", "flow_key": str(theirs.pk)}
    response = admin_a.post("/api/v1/number-flow-configs/", config, format="json")
    assert response.status_code == 400
    assert "no flow of your organization" in " ".join(response.json()["flow_key"])
    response = admin_a.post("/api/v1/number-flow-configs/", {**config, "flow_key": str(mine.pk)},
                            format="json")
    assert response.status_code == 201, response.content
    form = {"phone_number": number.phone_number_id, "display_number": "x", "flow_name": "x",
            "flow_key": str(theirs.pk), "priority": "0"}
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    bad = client.post(admin_url(NumberFlowConfig, "add"), form)
    assert "no flow of your organization" in bad.context["adminform"].form.errors["flow_key"][0]
