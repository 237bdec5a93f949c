"""Parse a raw webhook body into a Payload, validating all of it before anything is written."""
from __future__ import annotations

import json
import math
from typing import Any

from crm.webhooks.content import parse_content
from crm.webhooks.payload import (
    Change,
    InboundMessage,
    MalformedPayload,
    Payload,
    Referral,
    StatusUpdate,
    as_list,
    as_object,
    identifier,
    integer,
    optional_list,
    optional_object,
    required_object,
    required_text,
    text,
    unix_time,
)

WHATSAPP_OBJECT = "whatsapp_business_account"
REFERRAL_FIELDS = (
    "source_url", "source_id", "source_type", "headline", "body", "media_type", "ctwa_clid",
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _storable(value: Any) -> bool:
    """False if a string anywhere holds NUL or a lone surrogate, which PostgreSQL rejects."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def load_json(body: bytes) -> Any:
    """Decode the body as strict JSON: no NaN or Infinity, only strings the database can store."""
    try:
        source = body.decode("utf-8")
        data = json.loads(
            source, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise MalformedPayload("$", "not a JSON document") from None
    # Such strings can only come from \u escapes, so the walk is skipped for nearly every body.
    if ("\\u0000" in source or "\\ud" in source or "\\uD" in source) and not _storable(data):
        raise MalformedPayload("$", "a string holds NUL or an unpaired surrogate")
    return data


def _referral(message: dict[str, Any], where: str) -> Referral | None:
    found = optional_object(message, "referral", where)
    if found is None:
        return None
    at = f"{where}.referral"
    return Referral(**{name: text(found, name, at) for name in REFERRAL_FIELDS})


def _message(value: Any, where: str) -> InboundMessage:
    message = as_object(value, where)
    kind = required_text(message, "type", where)
    return InboundMessage(
        wamid=identifier(message, "id", where),
        from_wa_id=identifier(message, "from", where),
        timestamp=unix_time(message, "timestamp", where),
        type=kind,
        content=parse_content(kind, message, where),
        referral=_referral(message, where),
        raw=message,
    )


def _status(value: Any, where: str) -> StatusUpdate:
    status = as_object(value, where)
    errors = optional_list(status, "errors", where)
    error = as_object(errors[0], f"{where}.errors[0]") if errors else {}
    at = f"{where}.errors[0]"
    return StatusUpdate(
        wamid=identifier(status, "id", where),
        status=required_text(status, "status", where),
        timestamp=unix_time(status, "timestamp", where),
        recipient_id=text(status, "recipient_id", where),
        error_code=integer(error, "code", at),
        error_title=text(error, "title", at) or text(error, "message", at),
    )


def _names(value: dict[str, Any], where: str) -> tuple[tuple[str, str | None], ...]:
    """(wa_id, profile name) of every contact of a change."""
    names = []
    for i, item in enumerate(optional_list(value, "contacts", where)):
        at = f"{where}.contacts[{i}]"
        contact = as_object(item, at)
        profile = optional_object(contact, "profile", at) or {}
        names.append((identifier(contact, "wa_id", at), text(profile, "name", f"{at}.profile")))
    return tuple(names)


def _change(value: Any, where: str) -> Change:
    change = as_object(value, where)
    field = required_text(change, "field", where)
    if field != "messages":  # other subscriptions (template status, account updates): not ours
        return Change(where=where, field=field)
    at = f"{where}.value"
    body = required_object(change, "value", where)
    metadata = required_object(body, "metadata", at)
    return Change(
        where=where,
        field=field,
        phone_number_id=identifier(metadata, "phone_number_id", f"{at}.metadata"),
        display_phone_number=text(metadata, "display_phone_number", f"{at}.metadata"),
        names=_names(body, at),
        messages=tuple(
            _message(m, f"{at}.messages[{i}]")
            for i, m in enumerate(optional_list(body, "messages", at))
        ),
        statuses=tuple(
            _status(s, f"{at}.statuses[{i}]")
            for i, s in enumerate(optional_list(body, "statuses", at))
        ),
    )


def parse_payload(body: bytes) -> Payload:
    """The whole delivery, validated; MalformedPayload names the first part that is not valid."""
    top = as_object(load_json(body), "$")
    kind = required_text(top, "object", "$")
    if kind != WHATSAPP_OBJECT:
        return Payload(object=kind, changes=())
    changes = []
    for i, entry in enumerate(as_list(top.get("entry"), "$.entry")):
        where = f"entry[{i}]"
        item = as_object(entry, where)
        for j, change in enumerate(as_list(item.get("changes"), f"{where}.changes")):
            changes.append(_change(change, f"{where}.changes[{j}]"))
    return Payload(object=kind, changes=tuple(changes))
