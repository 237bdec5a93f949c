"""The webhook payload as small immutable dataclasses: what ingest and the store work with.

crm.whatsapp.inbound validates a delivery (pydantic models); crm.webhooks.parsing turns it into
these. MalformedPayload carries a JSON path and what was expected, never the value: a payload
holds customers' messages, and the error text ends up in logs and responses.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


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
    """One `messages[]` item; a kind without columns of its own has a describing body."""

    wamid: str
    from_wa_id: str
    timestamp: datetime
    type: str
    content: Content
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
    pricing: dict[str, Any] | None = None  # Meta's `pricing` object, as validated
    conversation: dict[str, Any] | None = None  # Meta's `conversation` object, as validated


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
    # An account field (crm.webhooks.account): the entry's WhatsApp Business Account id and the
    # change's `value` as received, read by that field's handler.
    account_id: str | None = None
    value: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Payload:
    """A whole delivery: every change of every entry, in order."""

    object: str
    changes: tuple[Change, ...]
    problems: tuple[tuple[str, str], ...] = ()  # (path, what was expected) of items skipped
