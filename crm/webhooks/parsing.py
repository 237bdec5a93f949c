"""Parse a raw webhook body into a Payload, validating all of it before anything is written.

The validation is crm.whatsapp.inbound's pydantic models; what ingest gets are the small
dataclasses of crm.webhooks.payload, each message with its object exactly as received (`raw`).
"""
from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError

from crm.storable import unstorable
from crm.webhooks.content import content_of
from crm.webhooks.payload import (
    Change,
    InboundMessage,
    MalformedPayload,
    Payload,
    Referral,
    StatusUpdate,
)
from crm.whatsapp import inbound
from crm.whatsapp.inbound import WHATSAPP_OBJECT

__all__ = ["WHATSAPP_OBJECT", "load_json", "parse_payload"]


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


def _message(message: inbound.MessageItem, raw: dict[str, Any]) -> InboundMessage:
    referral = message.referral
    return InboundMessage(
        wamid=message.id,
        from_wa_id=message.from_,
        timestamp=message.timestamp,
        type=message.type,
        content=content_of(message),
        referral=Referral(**referral.model_dump()) if referral is not None else None,
        raw=raw,
    )


def _status(status: inbound.StatusItem) -> StatusUpdate:
    error = status.errors[0] if status.errors else None
    return StatusUpdate(
        wamid=status.id,
        status=status.status,
        timestamp=status.timestamp,
        recipient_id=status.recipient_id,
        error_code=error.code if error else None,
        error_title=(error.title or error.message) if error else None,
        pricing=status.pricing.model_dump(exclude_none=True) if status.pricing else None,
        conversation=(status.conversation.model_dump(mode="json", exclude_none=True)
                      if status.conversation else None),
    )


def _change(change: inbound.ChangeItem, raw: dict[str, Any], where: str,
            account_id: Any = None) -> Change:
    value = change.value
    if value is None:  # other subscriptions: their value as received (crm.webhooks.account)
        return Change(where=where, field=change.field,
                      account_id=account_id if isinstance(account_id, str) else None,
                      value=raw.get("value") if isinstance(raw.get("value"), dict) else None)
    raw_messages = raw["value"].get("messages") or []
    return Change(
        where=where,
        field=change.field,
        phone_number_id=value.metadata.phone_number_id,
        display_phone_number=value.metadata.display_phone_number,
        names=tuple((c.wa_id, c.profile.name if c.profile else None) for c in value.contacts),
        messages=tuple(_message(m, raw_messages[i]) for i, m in enumerate(value.messages)),
        statuses=tuple(_status(s) for s in value.statuses),
    )


def parse_payload(body: bytes) -> Payload:
    """The whole delivery, validated; MalformedPayload names the first part that is not valid."""
    data = load_json(body)
    try:
        delivery = inbound.Delivery.model_validate(data)
    except ValidationError as error:
        where, problem = inbound.problems(error)[0]
        raise MalformedPayload(where, problem) from None
    if delivery.object != WHATSAPP_OBJECT:
        return Payload(object=delivery.object, changes=())
    changes = [
        _change(change, data["entry"][i]["changes"][j], f"entry[{i}].changes[{j}]",
                data["entry"][i].get("id"))
        for i, entry in enumerate(delivery.entry)
        for j, change in enumerate(entry.changes)
    ]
    return Payload(object=delivery.object, changes=tuple(changes))
