"""Custom attributes checked by their definitions: a definition's own shape, and each value.

Values are stored in `customers.attributes` as JSON of one shape per type: text and choice as
text, number as a JSON number, date as "YYYY-MM-DD", boolean as true/false.
"""
from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from crm.contacts.errors import ContactsError, InvalidAttribute
from crm.models import AttributeDefinition
from crm.storable import PROBLEM, unstorable

KEY = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
TYPES = tuple(AttributeDefinition.Type.values)
MOST_CHOICES = 100
LONGEST_TEXT = 1000
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0")


def check_text(value: Any, field: str, longest: int,
               error: type[ContactsError] = InvalidAttribute) -> str:
    """`value` as a storable, non-blank text of at most `longest` characters; else `error`."""
    if not isinstance(value, str) or not value.strip():
        raise error(field, "give a non-blank text.")
    if len(value.strip()) > longest:
        raise error(field, f"give at most {longest} characters.")
    if unstorable(value):
        raise error(field, f"the text {PROBLEM}.")
    return value.strip()


def check_definition(key: Any, kind: Any, choices: Any) -> tuple[str, list[str]]:
    """(key, choices) of a well-formed definition; else InvalidAttribute naming the field."""
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise InvalidAttribute("key", "start with a lower-case letter, then lower-case letters, "
                               "digits or _ (at most 50), such as birth_date.")
    if kind not in TYPES:
        raise InvalidAttribute("type", f"give one of {', '.join(TYPES)}.")
    if kind != AttributeDefinition.Type.CHOICE:
        if choices not in (None, []):
            raise InvalidAttribute("choices", "only a choice attribute has choices: leave it "
                                   "empty.")
        return key, []
    if not isinstance(choices, list) or not 1 <= len(choices) <= MOST_CHOICES:
        raise InvalidAttribute("choices", f"give a list of 1 to {MOST_CHOICES} texts.")
    cleaned = [check_text(choice, f"choices[{index}]", 100) for index, choice in
               enumerate(choices)]
    if len(set(cleaned)) != len(cleaned):
        raise InvalidAttribute("choices", "each choice once.")
    return key, cleaned


def clean_value(definition: AttributeDefinition, value: Any) -> Any:
    """`value` in its type's stored shape; else InvalidAttribute naming the key."""
    key, kind = definition.key, definition.type
    if kind == AttributeDefinition.Type.NUMBER:
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                raise InvalidAttribute(key, "give a number, such as 42 or 3.5.") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)) or abs(value) > 1e15:
            raise InvalidAttribute(key, "give a number, such as 42 or 3.5.")
        return value
    if kind == AttributeDefinition.Type.DATE:
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise InvalidAttribute(key, "give a date as YYYY-MM-DD, such as 2026-03-31.") from None
    if kind == AttributeDefinition.Type.BOOLEAN:
        if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
            return value.strip().lower() in TRUE
        if not isinstance(value, bool):
            raise InvalidAttribute(key, "give true or false.")
        return value
    text = check_text(value, key, LONGEST_TEXT)
    if kind == AttributeDefinition.Type.CHOICE and text not in definition.choices:
        raise InvalidAttribute(key, f"give one of {', '.join(definition.choices)}.")
    return text


def clean_values(values: Any, definitions: dict[str, AttributeDefinition]) -> dict[str, Any]:
    """{key: stored value, or None to remove} from `values`; every key must be defined."""
    if not isinstance(values, dict):
        raise InvalidAttribute("attributes", 'give a JSON object, {"key": value}.')
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            raise InvalidAttribute(repr(key)[1:-1][:60], "no attribute of your organization has "
                                   "this key: define it first (/api/v1/attribute-definitions/).")
        cleaned[key] = None if value is None or value == "" else clean_value(definition, value)
    return cleaned
