"""Conditions: where and when a rule applies (receiving numbers, business hours, the customer's
labels, the conversation's status)."""
from __future__ import annotations

import uuid
from typing import Any

from crm.automation.errors import InvalidRule, check_keys, check_strings
from crm.automation.inbound import Inbound
from crm.contacts.queries import MATCHES, customer_has_labels
from crm.models import Customer, Label, WhatsAppNumber

HOURS = ("any", "inside", "outside")
STATUSES = tuple(Customer.ConversationStatus.values)


def check(conditions: Any) -> dict[str, Any]:
    """The conditions if well formed (defaults filled in), else InvalidRule naming the field.

    Numbers are checked against the active organization's: another's is "not found".
    """
    conditions = {} if conditions is None else conditions
    check_keys(conditions, "conditions", {"numbers", "hours", "labels", "status"})
    numbers = conditions.get("numbers", [])
    if not isinstance(numbers, list):
        raise InvalidRule("conditions.numbers", "give a list of WhatsApp number ids ([] for "
                          "all).")
    ids = []
    for index, number in enumerate(numbers):
        try:
            ids.append(str(uuid.UUID(str(number))))
        except ValueError:
            raise InvalidRule(f"conditions.numbers[{index}]", "give a WhatsApp number id (from "
                              "/api/v1/whatsapp-numbers/).") from None
    found = {str(pk) for pk in WhatsAppNumber.objects.filter(pk__in=ids)
             .values_list("pk", flat=True)}
    for index, number in enumerate(ids):
        if number not in found:
            raise InvalidRule(f"conditions.numbers[{index}]", "no WhatsApp number of your "
                              "organization has this id.")
    hours = conditions.get("hours", "any")
    if hours not in HOURS:
        raise InvalidRule("conditions.hours", f"give one of {', '.join(HOURS)}.")
    checked: dict[str, Any] = {"numbers": ids, "hours": hours}
    if "labels" in conditions:
        checked["labels"] = _check_labels(conditions["labels"])
    if "status" in conditions:
        checked["status"] = _check_status(conditions["status"])
    return checked


def _check_labels(labels: Any) -> dict[str, Any]:
    """{"match": "any"|"all", "names": [...]}: names of the organization's labels."""
    path = "conditions.labels"
    check_keys(labels, path, {"match", "names"}, {"names"})
    match = labels.get("match", "any")
    if match not in MATCHES:
        raise InvalidRule(f"{path}.match", f"give one of {', '.join(MATCHES)}.")
    names = check_strings(labels["names"], f"{path}.names", most=20, longest=50)
    known = {name.lower() for name in Label.objects.values_list("name", flat=True)}
    for index, name in enumerate(names):
        if name.strip().lower() not in known:
            raise InvalidRule(f"{path}.names[{index}]", "your organization has no such label: "
                              "create it first (/api/v1/labels/).")
    return {"match": match, "names": [name.strip() for name in names]}


def _check_status(statuses: Any) -> list[str]:
    """A list of conversation statuses; the rule applies in any of them."""
    if not isinstance(statuses, list) or not 1 <= len(statuses) <= len(STATUSES):
        raise InvalidRule("conditions.status", f"give a list of statuses: {', '.join(STATUSES)}.")
    for index, status in enumerate(statuses):
        if status not in STATUSES:
            raise InvalidRule(f"conditions.status[{index}]", f"give one of {', '.join(STATUSES)}.")
    return list(dict.fromkeys(statuses))


def hold(conditions: dict[str, Any], inbound: Inbound) -> bool:
    """Whether the message meets the rule's conditions."""
    numbers = conditions.get("numbers") or []
    if numbers and inbound.number_id not in numbers:
        return False
    statuses = conditions.get("status")
    if statuses and inbound.customer.conversation_status not in statuses:
        return False
    labels = conditions.get("labels")
    if labels and not customer_has_labels(inbound.customer.pk, labels["names"],
                                          labels.get("match", "any")):
        return False
    hours = conditions.get("hours", "any")
    if hours == "inside":
        return inbound.open_now
    if hours == "outside":
        return not inbound.open_now
    return True
