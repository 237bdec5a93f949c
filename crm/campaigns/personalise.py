"""Per-recipient messages: the `{{placeholders}}` of a campaign's content filled for each one.

As in wb-crm, a placeholder is `{{name}}` anywhere in the content's strings (a template's
parameter texts, a text body, a link...). Its values, for one recipient: `customer_name`,
`customer_phone`, `customer_id` and `attribute.<key>` (the customer's custom attributes, as the
campaign builder maps them), then the uploaded recipient's own `params`: an object gives
its keys, a list gives `{{1}}`, `{{2}}`... in order. A recipient missing a value is not sent a
message with a hole in it: Missing names the placeholder.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}")


class Missing(Exception):
    """A placeholder of the content has no value for this recipient."""

    def __init__(self, name: str) -> None:
        if name.startswith("attribute."):
            super().__init__(f"the customer has no {name[10:]!r} attribute: set it, or map the "
                             "parameter to a fixed text in the campaign builder")
            return
        super().__init__(
            f"no value for {{{{{name}}}}}: give every uploaded recipient a '{name}' param, "
            "or take the placeholder out of the campaign's content"
        )


def has_placeholders(content: Any) -> bool:
    """True when some string of `content` holds a placeholder."""
    if isinstance(content, str):
        return PLACEHOLDER.search(content) is not None
    if isinstance(content, Mapping):
        return any(has_placeholders(value) for value in content.values())
    if isinstance(content, list):
        return any(has_placeholders(value) for value in content)
    return False


def values_for(customer_id: object, name: str | None, wa_id: str, params: Any,
               attributes: Any = None) -> dict[str, str]:
    """The placeholder values of one recipient."""
    values = {"customer_id": str(customer_id), "customer_phone": wa_id}
    if name:
        values["customer_name"] = name
    if isinstance(attributes, Mapping):
        values.update({f"attribute.{k}": str(v) for k, v in attributes.items()
                       if v not in (None, "")})
    if isinstance(params, Mapping):
        values.update({str(k): str(v) for k, v in params.items() if v is not None})
    elif isinstance(params, list):
        values.update({str(i): str(v) for i, v in enumerate(params, 1) if v is not None})
    return values


def fill(content: Any, values: Mapping[str, str]) -> Any:
    """`content` with every placeholder replaced by its value; Missing when one has none."""
    if isinstance(content, str):
        return PLACEHOLDER.sub(lambda found: _value(found[1], values), content)
    if isinstance(content, Mapping):
        return {key: fill(value, values) for key, value in content.items()}
    if isinstance(content, list):
        return [fill(value, values) for value in content]
    return content


def _value(name: str, values: Mapping[str, str]) -> str:
    try:
        return values[name]  # (a defaultdict answers every name: the pre-run check's sample)
    except KeyError:
        raise Missing(name) from None
