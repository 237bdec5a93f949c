"""A rule's JSON checked as a whole: trigger, conditions and actions (the API and the admin)."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from crm.automation import actions, conditions, triggers
from crm.automation.errors import InvalidRule

FIELD_OF = {"trigger": "trigger", "conditions": "conditions", "actions": "actions"}


def check_rule(trigger: Any, conditions_: Any, actions_: Any
               ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The three parts, checked and with defaults filled in; InvalidRule names the path."""
    return triggers.check(trigger), conditions.check(conditions_), actions.check(actions_)


def check_rule_or_raise(trigger: Any, conditions_: Any, actions_: Any
                        ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """check_rule for a Django form: the error on the field its path starts with."""
    try:
        return check_rule(trigger, conditions_, actions_)
    except InvalidRule as error:
        field = error.path.split(".")[0].split("[")[0]
        raise ValidationError({FIELD_OF[field]: str(error)}) from None
