"""Guided flows: a flow's steps checked before saving, and a customer's session driven by replies.

A session's moves are decided under the customer's row lock (crm.automation.services) and
committed with `handled_message_id`, so a redelivered webhook or a retried task advances it once;
the messages are sent after that commits, through send_message (window and opt-out apply), and
a refused send ends the session with the reason. Every step is a row of `flow_logs`.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils import timezone
from pydantic import ValidationError

from crm.automation import actions
from crm.automation.errors import InvalidRule, check_keys
from crm.automation.inbound import Inbound, normalise
from crm.models import (
    AutomationRule,
    Customer,
    Flow,
    FlowLog,
    FlowSession,
    Lead,
    NumberFlowConfig,
)
from crm.whatsapp.refusals import Refused
from crm.whatsapp.send import send_message
from crm.zoho.services import push_later

EXPECTS = ("choice", "number", "date", "phone", "text")
END_ACTIONS: dict[str, set[str]] = {"create_lead": set(), "assign": {"to"}}
QUESTION_KEYS = {"id", "message", "expect", "answer", "next", "retry"}
END_KEYS = {"id", "message", "actions"}
MOST_STEPS = 50
MOST_RETRIES = 3  # unexpected replies to one step before the session gives up
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")
PHONE = re.compile(r"^\+?[0-9]{7,15}$")


# -- checking a flow --------------------------------------------------------------------------


def choices(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, title) of the buttons or list rows of a step's message ([] for a text)."""
    interactive = message.get("interactive") or {}
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        return [(b["reply"]["id"], b["reply"]["title"]) for b in action.get("buttons") or []]
    if interactive.get("type") == "list":
        return [(row["id"], row["title"]) for section in action.get("sections") or []
                for row in section["rows"]]
    return []


def _check_message(step: dict[str, Any], path: str, names: tuple[str, ...]) -> None:
    actions.check_message(step["message"], f"{path}.message", names)
    message = step["message"]
    if message["type"] == "interactive":
        kind = (message.get("interactive") or {}).get("type")
        if kind not in ("button", "list"):
            raise InvalidRule(f"{path}.message.interactive.type",
                              "a flow step sends a text, buttons or a list.")
    elif message["type"] != "text":
        raise InvalidRule(f"{path}.message.type", "a flow step sends a text, buttons or a list.")


def _check_question(step: dict[str, Any], path: str, ids: set[str]) -> list[str]:
    """A question step checked; the ids of the steps it leads to."""
    expect = step["expect"]
    if expect not in EXPECTS:
        raise InvalidRule(f"{path}.expect", f"give one of {', '.join(EXPECTS)}.")
    answer = step.get("answer", step["id"])
    if not isinstance(answer, str) or not NAME.match(answer):
        raise InvalidRule(f"{path}.answer", "give a name of letters, digits and _ (such as "
                          "city), not starting with a digit.")
    retry = step.get("retry")
    if retry is not None and (not isinstance(retry, str) or not retry.strip()
                              or len(retry) > 1024):
        raise InvalidRule(f"{path}.retry", "give a non-blank text of at most 1024 characters.")
    options = [choice for choice, _ in choices(step["message"])]
    if expect == "choice" and not options:
        raise InvalidRule(f"{path}.expect", "a choice needs a message with buttons or a list.")
    nexts = step["next"]
    if isinstance(nexts, str):
        targets = {f"{path}.next": nexts}
    elif isinstance(nexts, dict) and expect == "choice":
        for key in nexts:
            if key not in options:
                raise InvalidRule(f"{path}.next.{key}", f"not a choice of this step; give "
                                  f"{', '.join(options)}.")
        for option in options:
            if option not in nexts:
                raise InvalidRule(f"{path}.next.{option}", "required: where this choice leads.")
        targets = {f"{path}.next.{key}": value for key, value in nexts.items()}
    else:
        raise InvalidRule(f"{path}.next", "give the id of the next step (or, for a choice, "
                          "an object of choice id to step id).")
    for where, target in targets.items():
        if target not in ids:
            raise InvalidRule(where, "no step has this id.")
    return list(targets.values())


def _check_end(step: dict[str, Any], path: str) -> None:
    todo = step.get("actions", [])
    if not isinstance(todo, list) or len(todo) > len(END_ACTIONS):
        raise InvalidRule(f"{path}.actions", "give a list of create_lead and assign actions.")
    for index, action in enumerate(todo):
        where = f"{path}.actions[{index}]"
        kind = action.get("type") if isinstance(action, dict) else None
        if kind not in END_ACTIONS:
            raise InvalidRule(f"{where}.type", f"give one of {', '.join(END_ACTIONS)}.")
        check_keys(action, where, END_ACTIONS[kind] | {"type"}, END_ACTIONS[kind])
        if kind == "assign":
            actions.check_assign(action, where)


def check_steps(steps: Any) -> list[dict[str, Any]]:
    """The steps if well formed, else InvalidRule naming the path (steps[2].next.blue)."""
    if not isinstance(steps, list) or not 1 <= len(steps) <= MOST_STEPS:
        raise InvalidRule("steps", f"give a list of 1 to {MOST_STEPS} steps.")
    ids: set[str] = set()
    for index, step in enumerate(steps):
        path = f"steps[{index}]"
        keys = QUESTION_KEYS if isinstance(step, dict) and "expect" in step else END_KEYS
        check_keys(step, path, keys, {"id", "message"} | ({"expect", "next"} & keys))
        if not isinstance(step["id"], str) or not 1 <= len(step["id"]) <= 100:
            raise InvalidRule(f"{path}.id", "give a text of 1 to 100 characters.")
        if step["id"] in ids:
            raise InvalidRule(f"{path}.id", "another step has this id; give each its own.")
        ids.add(step["id"])
    names = (*actions.PLACEHOLDERS, *(s.get("answer", s["id"]) for s in steps if "expect" in s))
    leads: dict[str, list[str]] = {}
    for index, step in enumerate(steps):
        path = f"steps[{index}]"
        _check_message(step, path, tuple(n for n in names if isinstance(n, str)))
        if "expect" in step:
            leads[step["id"]] = _check_question(step, path, ids)
        else:
            _check_end(step, path)
    reached, todo = {steps[0]["id"]}, [steps[0]["id"]]
    while todo:
        for target in leads.get(todo.pop(), []):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    for index, step in enumerate(steps):
        if step["id"] not in reached:
            raise InvalidRule(f"steps[{index}].id", "no step leads here from the first one; "
                              "point a next at it, or remove it.")
    return steps


def check_steps_or_raise(steps: Any) -> list[dict[str, Any]]:
    """check_steps for a Django form: the error on the steps field."""
    try:
        return check_steps(steps)
    except InvalidRule as error:
        raise DjangoValidationError({"steps": str(error)}) from None


# -- reading a reply --------------------------------------------------------------------------


def _number(text: str) -> int | float | None:
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def _date(text: str) -> str | None:
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), form).date().isoformat()
        except ValueError:
            continue
    return None


def _phone(text: str) -> str | None:
    compact = re.sub(r"[\s().-]", "", text)
    return compact.lstrip("+") if PHONE.match(compact) else None


def read(step: dict[str, Any], inbound: Inbound) -> tuple[str | None, Any]:
    """(choice id or None, the answer) of a reply valid for the step; (None, None) if not."""
    raw = (inbound.message.body or "").strip()
    expect = step["expect"]
    if expect == "choice":
        for choice, title in choices(step["message"]):
            if inbound.reply_id == choice or inbound.text == normalise(title):
                return choice, title
        return None, None
    if inbound.message.type not in ("text", "interactive", "button") or not raw:
        return None, None
    value: Any = {"number": _number, "date": _date, "phone": _phone}.get(
        expect, lambda text: text[:1000])(raw)
    return None, value


# -- running a session ------------------------------------------------------------------------


@dataclass
class Plan:
    """What a session does after the lock is released: messages to send, in order."""

    session: FlowSession | None = None
    sends: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (step id, message)
    logs: list[FlowLog] = field(default_factory=list)  # rows of flow_logs not yet written

    def log(self, step: str, description: str, status_code: int | None = None) -> None:
        """Note a row of flow_logs for the session's step (written by `write_logs`)."""
        assert self.session is not None
        self.logs.append(log_row(self.session, step, description, status_code))

    def write_logs(self) -> Plan:
        """Write the rows noted so far in one statement (a move's, inside its transaction; a
        single row, as after the sends, is saved: bulk_create outside a transaction opens
        one, two statements more)."""
        if len(self.logs) == 1:
            self.logs[0].save()
        elif self.logs:
            FlowLog.objects.bulk_create(self.logs)
        self.logs = []
        return self


def _step(flow: Flow, step_id: str) -> dict[str, Any]:
    return next(step for step in flow.steps if step["id"] == step_id)


def log_row(session: FlowSession, step: str, description: str, status_code: int | None = None
            ) -> FlowLog:
    """A row of flow_logs for this session's step, as it is now (not yet written)."""
    customer = session.customer
    return FlowLog(
        wa_id=customer.wa_id, name=customer.name, flow_type=str(session.flow_id),
        step=step[:100], status_code=status_code, description=description,
        response_json=json.dumps(session.answers, ensure_ascii=False), created_at=timezone.now())


def log(session: FlowSession, step: str, description: str, status_code: int | None = None
        ) -> None:
    """Write a row of flow_logs for this session's step."""
    log_row(session, step, description, status_code).save()


def _enter(session: FlowSession, step_id: str, plan: Plan, inbound: Inbound) -> None:
    """Move the session to `step_id` (under the lock): queue its message; an end step completes
    the session and does its actions (a lead, an assignment) in this transaction."""
    step = _step(session.flow, step_id)
    session.step = step_id
    plan.sends.append((step_id, step["message"]))
    if "expect" in step:
        return
    session.state = FlowSession.State.COMPLETED
    for action in step.get("actions", []):
        if action["type"] == "create_lead":
            create_lead(session.customer, session.answers, f"flow-{session.pk}")
        else:
            actions.perform(session.rule, action, inbound)
    plan.log(step_id, "completed")


def create_lead(customer: Customer, answers: dict[str, Any], local_id: str) -> Lead:
    """A lead of the customer with the flow's answers (`city` and `treatment` in their columns
    too); `local_id` stands in the zoho_lead_id until the lead is pushed to Zoho (queued when
    the transaction commits, if the organization's Zoho CRM is set up)."""
    first, _, last = (customer.name or customer.wa_id).partition(" ")
    lead = Lead.objects.create(
        zoho_lead_id=local_id, first_name=first[:100], last_name=last[:100] or None,
        phone=customer.wa_id[:20], wa_id=customer.wa_id, customer=customer,
        lead_source="WhatsApp", sub_source="flow", appointment_details=answers,
        city=str(answers["city"])[:100] if "city" in answers else None,
        treatment_name=str(answers["treatment"])[:255] if "treatment" in answers else None,
        created_at=timezone.now(), updated_at=timezone.now())
    push_later(lead)
    return lead


def start(flow: Flow, rule: AutomationRule, inbound: Inbound) -> Plan:
    """Start `flow` for the message's customer (an active session of theirs ends first)."""
    now = inbound.now
    FlowSession.objects.filter(customer=inbound.customer, state=FlowSession.State.ACTIVE).update(
        state=FlowSession.State.STOPPED, error="another flow started", updated_at=now)
    session = FlowSession(flow=flow, customer=inbound.customer, rule=rule, step="",
                          expires_at=now + timedelta(minutes=flow.expire_minutes),
                          handled_message_id=inbound.message.pk)
    plan = Plan(session)
    _enter(session, flow.steps[0]["id"], plan, inbound)
    session.save()
    plan.log(session.step, "started")
    return plan.write_logs()


def answer(inbound: Inbound) -> Plan | None:
    """Under the customer's lock: the customer's active session takes the message (a Plan; an
    empty one when it was handled already), or None: no session, so the rules answer it."""
    customer, message = inbound.customer, inbound.message
    # One query: the active session (one at most) and any session that handled this message.
    sessions = list(FlowSession.objects.select_related("flow", "rule").filter(
        Q(state=FlowSession.State.ACTIVE) | Q(handled_message_id__gte=message.pk),
        customer=customer))
    if any(s.handled_message_id is not None and s.handled_message_id >= message.pk
           for s in sessions):
        return Plan()  # a redelivered webhook or a retried task: handled already
    session = next((s for s in sessions if s.state == FlowSession.State.ACTIVE), None)
    if session is None:
        return None
    session.customer = customer  # the row the run holds locked, not a second read of it
    if session.expires_at <= inbound.now or not session.flow.is_active:
        session.state = FlowSession.State.EXPIRED
        session.save(update_fields=["state", "updated_at"])
        log(session, session.step, "expired")
        return None
    step = next((step for step in session.flow.steps if step["id"] == session.step), None)
    if step is None:  # the flow was edited and its step removed: the rules take over
        session.state, session.error = FlowSession.State.STOPPED, "the step left the flow"
        session.save(update_fields=["state", "error", "updated_at"])
        log(session, session.step, "stopped: the step left the flow")
        return None
    choice, value = read(step, inbound)
    session.handled_message_id = message.pk
    session.expires_at = inbound.now + timedelta(minutes=session.flow.expire_minutes)
    plan = Plan(session)
    if value is None:
        retries = FlowLog.objects.filter(flow_type=str(session.flow_id), wa_id=customer.wa_id,
                                         step=session.step, description="retry",
                                         created_at__gte=session.created_at).count()
        if retries >= MOST_RETRIES:
            session.state, session.error = FlowSession.State.STOPPED, "too many unexpected replies"
            session.save()
            log(session, session.step, "stopped: too many unexpected replies")
            return None
        retry = step.get("retry")
        plan.sends.append((session.step, {"type": "text", "text": {"body": retry}}
                           if retry else step["message"]))
        session.save()
        plan.log(session.step, "retry")
        return plan.write_logs()
    session.answers = {**session.answers, step.get("answer", step["id"]): value}
    plan.log(session.step, f"answered: {value}")
    nexts = step["next"]
    _enter(session, nexts if isinstance(nexts, str) else nexts[choice], plan, inbound)
    session.save()
    return plan.write_logs()


def carry_out(plan: Plan, inbound: Inbound) -> None:
    """Send the plan's messages (after the lock) in answer to `inbound`; a refusal stops the
    session with the reason."""
    try:
        _send_all(plan, inbound)
    finally:
        plan.write_logs()


def _send_all(plan: Plan, inbound: Inbound) -> None:
    session = plan.session
    for step_id, message in plan.sends:
        assert session is not None
        content = actions.personalise(message, session.customer, session.answers)
        try:
            send_message(session.customer, content, automation_rule=session.rule,
                         answering=inbound)
        except Refused as refusal:
            _stop(plan, step_id, f"refused: {refusal.code}: {refusal}", refusal.status)
            return
        except ValidationError as problem:
            _stop(plan, step_id, f"failed: {problem}"[:2000])
            return
        plan.log(step_id, "sent", 200)


def _stop(plan: Plan, step_id: str, error: str, status_code: int | None = None) -> None:
    """End the session on a send that cannot go (never retried), the reason kept and logged."""
    session = plan.session
    assert session is not None
    FlowSession.objects.filter(pk=session.pk).update(
        state=FlowSession.State.STOPPED, error=error, updated_at=timezone.now())
    session.state, session.error = FlowSession.State.STOPPED, error
    plan.log(step_id, error, status_code)


def check_flow_key(key: str) -> str:
    """A number flow config's flow_key: a flow of the organization by id, else InvalidRule (a
    legacy wb-crm key, not an id, is kept: it starts nothing here)."""
    try:
        flow_id = uuid.UUID(key)
    except ValueError:
        return key
    if not Flow.objects.filter(pk=flow_id).exists():
        raise InvalidRule("flow_key", "no flow of your organization has this id: give the id of "
                          "one of your flows (see /api/v1/flows/).")
    return key


def flow_of(action: dict[str, Any], inbound: Inbound) -> Flow | None:
    """The active flow a start_flow action names (of the active organization): by its id, or
    ("number") the one the receiving number's enabled flow config names in its flow_key."""
    if action["flow"] != actions.NUMBERS_FLOW:
        return Flow.objects.filter(pk=action["flow"], is_active=True).first()
    number = inbound.number
    if number is None:
        return None
    now = inbound.now
    config = (NumberFlowConfig.objects.filter(phone_number=number.phone_number_id)
              .exclude(is_enabled=False)
              .exclude(auto_enable_from__gt=now).exclude(auto_enable_to__lte=now).first())
    try:
        flow_id = uuid.UUID(config.flow_key) if config is not None else None
    except ValueError:  # a legacy wb-crm key: its flow was code, not a row of flows
        return None
    return Flow.objects.filter(pk=flow_id, is_active=True).first() if flow_id else None
