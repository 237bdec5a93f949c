"""Conditions: where and when a rule applies (receiving numbers, business hours)."""
from __future__ import annotations

import uuid
from typing import Any

from crm.automation.errors import InvalidRule, check_keys
from crm.automation.inbound import Inbound
from crm.models import WhatsAppNumber

HOURS = ("any", "inside", "outside")


def check(conditions: Any) -> dict[str, Any]:
    """The conditions if well formed (defaults filled in), else InvalidRule naming the field.

    Numbers are checked against the active organization's: another's is "not found".
    """
    conditions = {} if conditions is None else conditions
    check_keys(conditions, "conditions", {"numbers", "hours"})
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
    return {"numbers": ids, "hours": hours}


def hold(conditions: dict[str, Any], inbound: Inbound) -> bool:
    """Whether the message meets the rule's conditions."""
    numbers = conditions.get("numbers") or []
    if numbers and inbound.number_id not in numbers:
        return False
    hours = conditions.get("hours", "any")
    if hours == "inside":
        return inbound.open_now
    if hours == "outside":
        return not inbound.open_now
    return True
