"""The webhook payload as small immutable dataclasses, and typed readers that validate it.

The readers raise MalformedPayload with a JSON path and what was expected, never the value: a
payload holds customers' messages, and the error text ends up in logs and responses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Unix seconds up to 2100-01-01: beyond that a timestamp is a malformed one, not a date.
MAX_UNIX_SECONDS = 4102444800
MAX_INT32 = 2**31 - 1
# Ids are indexed (wamid, wa_id): far longer than Meta's would fail the btree, not just look odd.
MAX_ID_LENGTH = 256


class MalformedPayload(ValueError):
    """A well-signed body that is not a valid WhatsApp webhook payload."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One product of an `order` message."""

    product_retailer_id: str
    quantity: int
    item_price: float | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """The catalog order an `order` message places."""

    catalog_id: str | None
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True, slots=True)
class Referral:
    """The click-to-WhatsApp ad or post that started the conversation."""

    source_url: str | None
    source_id: str | None
    source_type: str | None
    headline: str | None
    body: str | None
    media_type: str | None
    ctwa_clid: str | None


@dataclass(frozen=True, slots=True)
class Content:
    """What a message of a stored type carries, by Message column."""

    body: str | None = None
    media_id: str | None = None
    caption: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    order: OrderDetails | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One `messages[]` item; `content` is None for a type we do not store."""

    wamid: str
    from_wa_id: str
    timestamp: datetime
    type: str
    content: Content | None
    referral: Referral | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One `statuses[]` item: what became of a message we sent."""

    wamid: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    error_code: int | None
    error_title: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One `entry[].changes[]` item; only field "messages" carries a number and items."""

    where: str
    field: str
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    names: tuple[tuple[str, str | None], ...] = ()
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class Payload:
    """A whole delivery: every change of every entry, in order."""

    object: str
    changes: tuple[Change, ...]


# --- Readers -------------------------------------------------------------------------------


def as_object(value: Any, where: str) -> dict[str, Any]:
    """`value` as a JSON object."""
    if not isinstance(value, dict):
        raise MalformedPayload(where, "expected an object")
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """`value` as a JSON array."""
    if not isinstance(value, list):
        raise MalformedPayload(where, "expected an array")
    return value


def optional_list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    """obj[key] as an array; absent or null is empty."""
    value = obj.get(key)
    return [] if value is None else as_list(value, f"{where}.{key}")


def optional_object(obj: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    """obj[key] as an object, or None when absent or null."""
    value = obj.get(key)
    return None if value is None else as_object(value, f"{where}.{key}")


def required_object(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """obj[key] as an object; it must be there."""
    return as_object(obj.get(key), f"{where}.{key}")


def text(obj: dict[str, Any], key: str, where: str) -> str | None:
    """obj[key] as a string, or None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{where}.{key}", "expected a string")
    return value


def required_text(obj: dict[str, Any], key: str, where: str) -> str:
    """obj[key] as a non-empty string."""
    value = text(obj, key, where)
    if not value:
        raise MalformedPayload(f"{where}.{key}", "expected a non-empty string")
    return value


def identifier(obj: dict[str, Any], key: str, where: str) -> str:
    """obj[key] as a non-empty id of at most MAX_ID_LENGTH characters."""
    value = required_text(obj, key, where)
    if len(value) > MAX_ID_LENGTH:
        raise MalformedPayload(f"{where}.{key}", "id too long")
    return value


def number(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> float | None:
    """obj[key] as a finite number (a numeric string too), or None when absent and optional."""
    value = obj.get(key)
    if value is None and not required:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedPayload(f"{where}.{key}", "expected a number")
    return float(value)


def integer(
    obj: dict[str, Any], key: str, where: str, *, required: bool = False, minimum: int = 0
) -> int | None:
    """obj[key] as an integer that fits a database integer column (a digit string too)."""
    value = obj.get(key)
    if value is None and not required:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.isascii():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_INT32:
        raise MalformedPayload(f"{where}.{key}", "expected an integer in range")
    return value


def unix_time(obj: dict[str, Any], key: str, where: str) -> datetime:
    """obj[key], Unix seconds (Meta sends a digit string), as an aware UTC datetime."""
    value = obj.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < MAX_UNIX_SECONDS:
        raise MalformedPayload(f"{where}.{key}", "expected Unix seconds")
    return datetime.fromtimestamp(value, tz=UTC)
