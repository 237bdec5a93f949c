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
class Amendment:
    """An edit (the new body) or a deletion (`body` None) of an earlier message, by its wamid."""

    original_wamid: str
    body: str | None = None


@dataclass(frozen=True, slots=True)
class SystemChange:
    """What a `system` message changes: the customer's number or user id, their marketing
    preference (Meta's `system.type`, and its new wa_id, user_id or `marketing` value)."""

    kind: str | None
    new_wa_id: str | None = None
    new_user_id: str | None = None
    marketing: str | None = None


# Kinds that are not the customer writing: they do not open the 24-hour window (Meta opens it
# "whenever a WhatsApp user messages you"); they are stored and shown all the same.
NOT_WRITING = ("system", "revoke")


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One `messages[]` item; a kind without columns of its own has a describing body.

    `from_wa_id` is the sender (a wa_id, or a business-scoped user id when the customer has a
    username); the conversation is the sender's, or the group's when `group_id` is set. For a
    message echoed from the WhatsApp Business app, `to` is the customer it was sent to.
    """

    wamid: str
    from_wa_id: str
    timestamp: datetime
    type: str
    content: Content
    referral: Referral | None
    raw: dict[str, Any]
    group_id: str | None = None
    amendment: Amendment | None = None
    system: SystemChange | None = None
    to: str | None = None

    @property
    def customer_key(self) -> str:
        """The conversation's customers.wa_id: the group, the echo's recipient, or the sender."""
        return self.group_id or self.to or self.from_wa_id

    @property
    def opens_window(self) -> bool:
        """Whether this is the customer writing (the 24-hour window opens)."""
        return self.to is None and self.type not in NOT_WRITING


@dataclass(frozen=True, slots=True)
class Preference:
    """One `user_preferences[]` item: a customer stopped or resumed marketing messages."""

    customer_key: str
    category: str | None
    value: str | None
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One `statuses[]` item: what became of a message we sent."""

    wamid: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    error_code: int | None
    error_title: str | None
    error_details: str | None = None  # Meta's `error_data.details`
    pricing: dict[str, Any] | None = None  # Meta's `pricing` object, as validated
    conversation: dict[str, Any] | None = None  # Meta's `conversation` object, as validated


@dataclass(frozen=True, slots=True)
class Change:
    """One `entry[].changes[]` item; the channel fields carry a number and items."""

    where: str
    field: str
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    names: tuple[tuple[str, str | None], ...] = ()
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    echoes: tuple[InboundMessage, ...] = ()  # smb_message_echoes: sent from the Business app
    preferences: tuple[Preference, ...] = ()  # user_preferences
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
