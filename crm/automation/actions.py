"""Actions: what a fired rule does. `check` validates a rule's list, `perform` does one action.

Every message goes through send_message, so the 24-hour window and opt-outs apply to the bot as
they do to agents.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from django.db import transaction
from pydantic import ValidationError

from crm.automation.errors import InvalidRule, check_keys
from crm.automation.inbound import Inbound
from crm.inbox import events, services
from crm.integrations import credentials as integrations
from crm.models import AutomationRule, Customer, Flow, Role, User
from crm.whatsapp.schemas import MessageContent
from crm.whatsapp.send import send_message
from crm.zoho import services as zoho
from crm.zoho.errors import ZohoError

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
PLACEHOLDERS = ("name", "phone")
ROUND_ROBIN = "round_robin"
# start_flow {"flow": "number"}: the flow the receiving number's number_flow_configs row names.
NUMBERS_FLOW = "number"
MOST_ACTIONS = 10
FIELDS: dict[str, set[str]] = {"send": {"message"}, "assign": {"to"}, "set_status": {"status"},
                               "start_flow": {"flow"}, "create_lead": set(), "push_lead": set()}


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string inside `value` with its path."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _strings(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value)
                for found in _strings(item, f"{path}[{index}]")]
    return []


def check_message(message: Any, path: str, names: tuple[str, ...] = PLACEHOLDERS) -> None:
    """A message the send API takes, with only `names` as placeholders; else InvalidRule."""
    try:
        MessageContent.model_validate(message)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False, include_context=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidRule(f"{path}{'.' + where if where else ''}", first["msg"]) from None
    for where, text in _strings(message, path):
        for name in PLACEHOLDER.findall(text):
            if name not in names:
                raise InvalidRule(where, f"unknown placeholder {{{{{name}}}}}; use "
                                  + " or ".join(f"{{{{{p}}}}}" for p in names) + ".")


def _check_send(action: dict[str, Any], path: str) -> None:
    check_message(action["message"], f"{path}.message")


def check_assign(action: dict[str, Any], path: str) -> None:
    to = action["to"]
    if to == ROUND_ROBIN:
        return
    try:
        user_id = uuid.UUID(str(to))
    except ValueError:
        raise InvalidRule(f"{path}.to",
                          f'give a user id of an agent, or "{ROUND_ROBIN}".') from None
    if not User.objects.filter(pk=user_id, role__name__in=services.ASSIGNABLE_ROLES).exists():
        raise InvalidRule(f"{path}.to", "no agent or administrator of your organization has "
                          "this id.")


def _check_status(action: dict[str, Any], path: str) -> None:
    if action["status"] not in Customer.Status.values:
        raise InvalidRule(f"{path}.status", f"give one of {', '.join(Customer.Status.values)}.")


def _check_flow(action: dict[str, Any], path: str) -> None:
    if action["flow"] == NUMBERS_FLOW:
        return
    try:
        flow_id = uuid.UUID(str(action["flow"]))
    except ValueError:
        raise InvalidRule(f"{path}.flow", 'give the id of a flow, or "number" for the flow the '
                          "receiving number's flow config names.") from None
    if not Flow.objects.filter(pk=flow_id).exists():
        raise InvalidRule(f"{path}.flow", "no flow of your organization has this id.")


def _check_push(action: dict[str, Any], path: str) -> None:
    if integrations.load(zoho.PROVIDER) is None:
        raise InvalidRule(f"{path}.type", "Zoho CRM is not configured: store its credentials at "
                          "PUT /api/v1/integrations/zoho/ first.")


def check(actions: Any) -> list[dict[str, Any]]:
    """The actions if well formed, else InvalidRule naming the field (actions[0].message...)."""
    if not isinstance(actions, list) or not 1 <= len(actions) <= MOST_ACTIONS:
        raise InvalidRule("actions", f"give a list of 1 to {MOST_ACTIONS} actions.")
    for index, action in enumerate(actions):
        path = f"actions[{index}]"
        kind = action.get("type") if isinstance(action, dict) else None
        if kind not in FIELDS:
            raise InvalidRule(f"{path}.type", f"give one of {', '.join(FIELDS)}.")
        check_keys(action, path, FIELDS[kind] | {"type"}, FIELDS[kind])
        {"send": _check_send, "assign": check_assign, "set_status": _check_status,
         "start_flow": _check_flow, "create_lead": lambda *_: None,
         "push_lead": _check_push}[kind](action, path)
    return actions


def personalise(message: Any, customer: Customer, answers: dict[str, Any] | None = None
                ) -> Any:
    """`message` with {{name}} and {{phone}} replaced by the customer's (and a flow's answers by
    their values)."""
    values = {**{key: str(value) for key, value in (answers or {}).items()},
              "name": customer.name or "", "phone": customer.wa_id}
    if isinstance(message, str):
        return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), message)
    if isinstance(message, dict):
        return {key: personalise(item, customer, answers) for key, item in message.items()}
    if isinstance(message, list):
        return [personalise(item, customer, answers) for item in message]
    return message


def _send(rule: AutomationRule, action: dict[str, Any], inbound: Inbound) -> None:
    """Send the message (raises Refused or pydantic's ValidationError), stored as the rule's
    (a failed one too: the bot's, never an agent's reply)."""
    send_message(inbound.customer, personalise(action["message"], inbound.customer),
                 automation_rule=rule, answering=inbound)


def _next_agent(rule: AutomationRule) -> User | None:
    """The organization's next AGENT after the one this rule assigned last (by id, cycling)."""
    with transaction.atomic():
        locked = AutomationRule.objects.select_for_update().get(pk=rule.pk)
        agents = list(User.objects.filter(role__name=Role.AGENT).order_by("id"))
        if not agents:
            return None
        cursor = locked.round_robin_after
        after = [agent for agent in agents if cursor and str(agent.pk) > str(cursor)]
        chosen = (after or agents)[0]
        AutomationRule.objects.filter(pk=rule.pk).update(round_robin_after=chosen.pk)
    return chosen


def _assign(rule: AutomationRule, action: dict[str, Any], inbound: Inbound) -> None:
    to = action["to"]
    agent = (_next_agent(rule) if to == ROUND_ROBIN
             else User.objects.filter(pk=to, role__name__in=services.ASSIGNABLE_ROLES).first())
    if agent is None:
        raise services.InvalidAssignee("No agent to assign to: add an AGENT user, or change the "
                                       "rule's assign action.")
    services.assign(inbound.customer, agent, by=None)


def _set_status(rule: AutomationRule, action: dict[str, Any], inbound: Inbound) -> None:
    customer = inbound.customer
    Customer.objects.filter(pk=customer.pk).update(customer_status=action["status"])
    customer.customer_status = action["status"]
    events.publish(events.CONVERSATION, customer=customer.pk)


def _start_flow(rule: AutomationRule, action: dict[str, Any], inbound: Inbound) -> None:
    """Start the flow under the customer's row lock (one active session), then send its first
    step."""
    from crm.automation import flows  # here: flows imports this module

    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=inbound.customer.pk).first()
        flow = flows.flow_of(action, inbound)
        if flow is None:
            raise services.NotAllowed(
                "The flow is gone or inactive: activate it, or change the rule's start_flow "
                "action." if action["flow"] != NUMBERS_FLOW else "The receiving number has no "
                "enabled flow config naming an active flow: set one in number flow configs.")
        plan = flows.start(flow, rule, inbound)
    flows.carry_out(plan, inbound)


def _create_lead(rule: AutomationRule, action: dict[str, Any], inbound: Inbound) -> None:
    from crm.automation import flows  # here: flows imports this module

    flows.create_lead(inbound.customer, {}, f"rule-{rule.pk}-{inbound.message.pk}")


def _push_lead(rule: AutomationRule, action: dict[str, Any], inbound: Inbound) -> None:
    """Push the customer's latest lead to Zoho (queued), or create one (pushed as it is)."""
    try:
        zoho.push_for_customer(inbound.customer, f"rule-{rule.pk}-{inbound.message.pk}")
    except ZohoError as error:
        raise services.NotAllowed(str(error)) from None


def perform(rule: AutomationRule, action: dict[str, Any], inbound: Inbound) -> None:
    """Do one action of `rule` for this message."""
    {"send": _send, "assign": _assign, "set_status": _set_status, "start_flow": _start_flow,
     "create_lead": _create_lead, "push_lead": _push_lead}[action["type"]](rule, action, inbound)
