"""Parse a raw webhook body into a Payload, item by item.

Only the top-level shape can refuse a delivery (`check_shape`, in the view); each contact,
message and status is validated on its own by crm.whatsapp.inbound's pydantic models, and one
that is not understood becomes a problem of the Payload (its path and what was expected, never
its content), never a reason to drop the others: the delivery itself is kept raw. What ingest
gets are the small dataclasses of crm.webhooks.payload, each message with its object exactly as
received (`raw`).
"""
from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError

from crm.storable import unstorable
from crm.webhooks.content import content_of
from crm.webhooks.payload import (
    Amendment,
    Change,
    InboundMessage,
    MalformedPayload,
    Payload,
    Preference,
    Referral,
    StatusUpdate,
    SystemChange,
)
from crm.whatsapp import inbound
from crm.whatsapp.inbound import WHATSAPP_OBJECT

__all__ = ["WHATSAPP_OBJECT", "check_shape", "load_json", "parse_data", "parse_payload"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


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
    if "\\u0000" in source or "\\ud" in source or "\\uD" in source:
        where = unstorable(data)
        if where is not None:
            raise MalformedPayload(where, "a string holds NUL or an unpaired surrogate")
    return data


def _amendment(message: inbound.MessageItem) -> Amendment | None:
    """What an `edit` or `revoke` message changes in an earlier message."""
    if message.type == "edit" and message.edit is not None:
        edited = message.edit.message
        return Amendment(message.edit.original_message_id, edited.body if edited else None)
    if message.type == "revoke" and message.revoke is not None:
        return Amendment(message.revoke.original_message_id)
    return None


def _system(message: inbound.MessageItem) -> SystemChange | None:
    system = message.system if message.type == "system" else None
    if system is None:
        return None
    return SystemChange(kind=system.type, new_wa_id=system.wa_id, new_user_id=system.user_id,
                        marketing=system.marketing)


def _message(message: inbound.MessageItem, raw: dict[str, Any]) -> InboundMessage:
    referral = message.referral
    return InboundMessage(
        wamid=message.id,
        from_wa_id=message.sender,
        timestamp=message.timestamp,
        type=message.type,
        content=content_of(message, raw),
        referral=Referral(**referral.model_dump()) if referral is not None else None,
        raw=raw,
        group_id=message.group_id or None,
        amendment=_amendment(message),
        system=_system(message),
        to=message.recipient if isinstance(message, inbound.EchoItem) else None,
    )


def _preference(item: inbound.PreferenceItem) -> Preference:
    return Preference(customer_key=item.wa_id or item.user_id or "", category=item.category,
                      value=item.value, timestamp=item.timestamp)


def _status(status: inbound.StatusItem) -> StatusUpdate:
    error = status.errors[0] if status.errors else None
    return StatusUpdate(
        wamid=status.id,
        status=status.status,
        timestamp=status.timestamp,
        recipient_id=status.recipient_id,
        error_code=error.code if error else None,
        error_title=(error.title or error.message) if error else None,
        error_details=(error.error_data.details if error and error.error_data else None),
        pricing=status.pricing.model_dump(exclude_none=True) if status.pricing else None,
        conversation=(status.conversation.model_dump(mode="json", exclude_none=True)
                      if status.conversation else None),
    )


Problems = list[tuple[str, str]]
_LISTS = ("contacts", "messages", "statuses", "message_echoes", "user_preferences")


def _validated(model: type[Any], raw: Any, where: str, problems: Problems) -> Any:
    """`raw` as `model`, or None with the first problem recorded under `where`."""
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        inner, problem = inbound.problems(error)[0]
        problems.append((where if inner == "$" else f"{where}.{inner}", problem))
        return None


def _sender_named(item: Any, sole: str | None) -> Any:
    """A message without `from` nor `from_user_id` (a username's contact request): its sender
    is the change's only contact, when there is exactly one."""
    if sole and isinstance(item, dict) and not item.get("from") and not item.get("from_user_id"):
        return {**item, "from_user_id": sole}
    return item


def _items(value: dict[str, Any], name: str, where: str, problems: Problems) -> list[Any]:
    """`value[name]` as a list (absent or null: empty); anything else is one problem."""
    items = value.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append((f"{where}.value.{name}", "expected an array"))
        return []
    return items


def _change(raw: Any, where: str, problems: Problems, account_id: Any = None) -> Change | None:
    """One change, its items validated one by one: an item not understood is only that one."""
    head = raw
    if isinstance(raw, dict) and isinstance(raw.get("value"), dict):
        head = {**raw, "value": {k: v for k, v in raw["value"].items() if k not in _LISTS}}
    change = _validated(inbound.ChangeItem, head, where, problems)
    if change is None:
        return None
    value = change.value
    if value is None:  # other subscriptions: their value as received (crm.webhooks.account)
        return Change(where=where, field=change.field,
                      account_id=account_id if isinstance(account_id, str) else None,
                      value=raw.get("value") if isinstance(raw.get("value"), dict) else None)
    lists = {name: _items(raw["value"], name, where, problems) for name in _LISTS}
    names, messages, statuses, echoes, preferences = [], [], [], [], []
    for k, item in enumerate(lists["contacts"]):
        contact = _validated(inbound.ContactItem, item, f"{where}.value.contacts[{k}]", problems)
        if contact is not None:
            names.append((contact.key, contact.profile.name if contact.profile else None))
    sole = names[0][0] if len(names) == 1 else None
    for k, item in enumerate(lists["messages"]):
        message = _validated(inbound.MessageItem, _sender_named(item, sole),
                             f"{where}.value.messages[{k}]", problems)
        if message is not None:
            messages.append(_message(message, item))
    for k, item in enumerate(lists["statuses"]):
        status = _validated(inbound.StatusItem, item, f"{where}.value.statuses[{k}]", problems)
        if status is not None:
            statuses.append(_status(status))
    for k, item in enumerate(lists["message_echoes"]):
        echo = _validated(inbound.EchoItem, item, f"{where}.value.message_echoes[{k}]", problems)
        if echo is not None:
            echoes.append(_message(echo, item))
    for k, item in enumerate(lists["user_preferences"]):
        preference = _validated(inbound.PreferenceItem, item,
                                f"{where}.value.user_preferences[{k}]", problems)
        if preference is not None:
            preferences.append(_preference(preference))
    return Change(
        where=where, field=change.field, phone_number_id=value.metadata.phone_number_id,
        display_phone_number=value.metadata.display_phone_number, names=tuple(names),
        messages=tuple(messages), statuses=tuple(statuses), echoes=tuple(echoes),
        preferences=tuple(preferences),
    )


def check_shape(data: Any) -> None:
    """Refuse what is not a webhook delivery at all: an object naming its `object`, and for a
    WhatsApp Business Account an `entry` array. Everything inside is judged item by item."""
    if not isinstance(data, dict):
        raise MalformedPayload("$", "expected an object")
    if not isinstance(data.get("object"), str) or not data["object"]:
        raise MalformedPayload("object", "required" if "object" not in data else
                               "expected a non-empty string")
    if data["object"] == WHATSAPP_OBJECT and not isinstance(data.get("entry"), list):
        raise MalformedPayload("entry", "required" if data.get("entry") is None else
                               "expected an array")


def parse_payload(body: bytes) -> Payload:
    """A delivery's body (strict JSON of the right top-level shape, else MalformedPayload)."""
    return parse_data(load_json(body))


def parse_data(data: Any) -> Payload:
    """A decoded delivery; each item Meta sent that is not understood is one of `problems`."""
    check_shape(data)
    if data["object"] != WHATSAPP_OBJECT:
        return Payload(object=data["object"], changes=())
    problems: Problems = []
    changes = []
    for i, entry in enumerate(data["entry"]):
        raw_changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(raw_changes, list):
            problems.append((f"entry[{i}]" if not isinstance(entry, dict) else
                             f"entry[{i}].changes", "expected an object" if not isinstance(
                                 entry, dict) else "expected an array"))
            continue
        for j, raw in enumerate(raw_changes):
            change = _change(raw, f"entry[{i}].changes[{j}]", problems, entry.get("id"))
            if change is not None:
                changes.append(change)
    return Payload(object=data["object"], changes=tuple(changes), problems=tuple(problems))
