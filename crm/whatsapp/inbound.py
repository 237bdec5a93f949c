"""Meta's webhook deliveries as pydantic models: a delivery is validated whole before any write.

The same limits as before the models: ids of at most 256 characters (they are indexed), Unix
seconds before 2100 (a digit string too), finite numbers, integers that fit a database column.
Objects Meta may extend ignore unknown fields; only the object of a message's own `type` is
validated (crm.whatsapp.inbound_objects), and nothing of a change other than the channel fields
or of an object other than a WhatsApp Business Account. `problems()` turns a ValidationError
into (JSON path, what was expected), never the value: a payload holds customers' messages.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Strict, ValidationError, model_validator

from crm.whatsapp.inbound_objects import (
    MISSING,
    MEDIA_TYPES,
    ButtonObject,
    ContactCard,
    EditObject,
    Filled,
    Identifier,
    Inbound,
    InteractiveObject,
    LocationObject,
    MaybeEmptyId,
    MediaObject,
    OptionalInt32,
    OrderObject,
    ReactionObject,
    RevokeObject,
    SystemObject,
    Text,
    TextObject,
    UnixTime,
    as_array,
    malformed,
)

WHATSAPP_OBJECT = "whatsapp_business_account"
STORED_TYPES = ("text", *MEDIA_TYPES, "location", "contacts", "interactive", "button", "order",
                "reaction", "edit", "revoke")
# The changes whose `value` names a number and carries messages: a customer's messages and
# statuses, the Business app's own messages (coexistence), marketing preferences.
CHANNEL_FIELDS = ("messages", "smb_message_echoes", "user_preferences")


class Referral(Inbound):
    source_url: Text = None
    source_id: Text = None
    source_type: Text = None
    headline: Text = None
    body: Text = None
    media_type: Text = None
    ctwa_clid: Text = None


class MessageContext(Inbound):
    """What a reply answers (`id`, a wamid); a forwarded message's context has no id."""

    id: Identifier | None = None


class MessageItem(Inbound):
    """One `messages[]` item; only the object of its own type is read."""

    id: Identifier
    from_: MaybeEmptyId = Field(None, alias="from")
    from_user_id: MaybeEmptyId = None
    group_id: MaybeEmptyId = None
    timestamp: UnixTime
    type: Filled
    context: MessageContext | None = None  # stored in raw_message, read by the inbox's thread
    referral: Referral | None = None
    text: TextObject | None = None
    image: MediaObject | None = None
    video: MediaObject | None = None
    audio: MediaObject | None = None
    sticker: MediaObject | None = None
    document: MediaObject | None = None
    location: LocationObject | None = None
    contacts: Annotated[tuple[ContactCard, ...], Field(min_length=1)] | None = None
    interactive: InteractiveObject | None = None
    button: ButtonObject | None = None
    order: OrderObject | None = None
    reaction: ReactionObject | None = None
    edit: EditObject | None = None
    revoke: RevokeObject | None = None
    system: SystemObject | None = None

    @model_validator(mode="after")
    def _has_sender(self) -> MessageItem:
        if not self.sender:
            raise malformed("expected a `from` or a `from_user_id`")
        return self

    @property
    def sender(self) -> str:
        """Who wrote: the phone number's wa_id, else the business-scoped user id (usernames)."""
        return self.from_ or self.from_user_id or ""

    @model_validator(mode="before")
    @classmethod
    def _own_type_only(cls, data: Any) -> Any:
        """Drop other types' objects. A message whose object is absent (Meta sends some with
        only `errors`) is kept as a kind without columns; a malformed object is refused."""
        if not isinstance(data, dict):
            return data
        kind = data.get("type")
        return {k: v for k, v in data.items() if k not in STORED_TYPES or k == kind}

    @property
    def object(self) -> Any:
        """The object of this message's type; None for a type we do not store."""
        return getattr(self, self.type, None) if self.type in STORED_TYPES else None


class EchoItem(MessageItem):
    """One `message_echoes[]` item: a message the business sent from the WhatsApp Business app."""

    to: MaybeEmptyId = None
    to_user_id: MaybeEmptyId = None

    @model_validator(mode="after")
    def _has_recipient(self) -> EchoItem:
        if not self.recipient:
            raise malformed("expected a `to` or a `to_user_id`")
        return self

    @property
    def recipient(self) -> str:
        """Who it was sent to: the wa_id, else the business-scoped user id."""
        return self.to or self.to_user_id or ""


class PreferenceItem(Inbound):
    """One `user_preferences[]` item: a customer stopped or resumed marketing messages."""

    wa_id: MaybeEmptyId = None
    user_id: MaybeEmptyId = None
    category: Text = None
    value: Text = None
    timestamp: UnixTime | None = None

    @model_validator(mode="after")
    def _has_customer(self) -> PreferenceItem:
        if not (self.wa_id or self.user_id):
            raise malformed("expected a `wa_id` or a `user_id`")
        return self


class ErrorData(Inbound):
    details: Text = None


class StatusError(Inbound):
    code: OptionalInt32 = None
    title: Text = None
    message: Text = None
    error_data: ErrorData | None = None


class StatusPricing(Inbound):
    """What Meta charges for the message (kept on it for usage reports)."""

    billable: Annotated[bool, Strict()] | None = None
    pricing_model: Text = None
    category: Text = None
    type: Text = None


class ConversationOrigin(Inbound):
    type: Text = None


class StatusConversation(Inbound):
    id: Text = None
    origin: ConversationOrigin | None = None
    expiration_timestamp: UnixTime | None = None


class StatusItem(Inbound):
    id: Identifier
    status: Filled
    timestamp: UnixTime
    recipient_id: Text = None
    errors: Annotated[tuple[StatusError, ...], BeforeValidator(as_array)] = ()
    pricing: StatusPricing | None = None
    conversation: StatusConversation | None = None


class Profile(Inbound):
    name: Text = None


class ContactItem(Inbound):
    wa_id: MaybeEmptyId = None
    user_id: MaybeEmptyId = None
    profile: Profile | None = None

    @model_validator(mode="after")
    def _has_id(self) -> ContactItem:
        if not self.key:
            raise malformed("expected a `wa_id` or a `user_id`")
        return self

    @property
    def key(self) -> str:
        """The customer's key: the wa_id, else the business-scoped user id (usernames)."""
        return self.wa_id or self.user_id or ""


class Metadata(Inbound):
    phone_number_id: Identifier
    display_phone_number: Text = None


class Value(Inbound):
    metadata: Metadata
    contacts: Annotated[tuple[ContactItem, ...], BeforeValidator(as_array)] = ()
    messages: Annotated[tuple[MessageItem, ...], BeforeValidator(as_array)] = ()
    statuses: Annotated[tuple[StatusItem, ...], BeforeValidator(as_array)] = ()
    message_echoes: Annotated[tuple[EchoItem, ...], BeforeValidator(as_array)] = ()
    user_preferences: Annotated[tuple[PreferenceItem, ...], BeforeValidator(as_array)] = ()


class ChangeItem(Inbound):
    """One `changes[]` item; only the CHANNEL_FIELDS are read here (the account's elsewhere)."""

    field: Filled
    value: Value | None = None

    @model_validator(mode="before")
    @classmethod
    def _messages_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("field") not in CHANNEL_FIELDS:
            return {"field": data.get("field")}
        if isinstance(data, dict) and data.get("value") is None:
            return {**data, "value": MISSING}
        return data


class Entry(Inbound):
    changes: tuple[ChangeItem, ...]


class Delivery(Inbound):
    """A whole delivery; entries of objects other than a WhatsApp Business Account are ignored."""

    object: Filled
    entry: tuple[Entry, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _whatsapp_only(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise malformed("expected an object")
        if data.get("object") != WHATSAPP_OBJECT:
            return {"object": data.get("object")}
        return {**data, "entry": MISSING if data.get("entry") is None else data["entry"]}


# What a failed check expected, by pydantic's error type (the rest say so themselves).
EXPECTED = {
    "missing": "required", "model_type": "expected an object", "model_attributes_type":
    "expected an object", "dict_type": "expected an object", "list_type": "expected an array",
    "tuple_type": "expected an array",
    "too_short": "expected at least one item", "greater_than_equal": "expected at least 1",
    "string_type": "expected a string", "string_too_short": "expected a non-empty string",
    "string_too_long": "id too long", "float_type": "expected a number",
    "int_type": "expected an integer in range",
}


def path(loc: tuple[int | str, ...]) -> str:
    """A JSON path like `entry[1].changes[0].value.messages[2].location.latitude`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "$"


def problems(error: ValidationError) -> list[tuple[str, str]]:
    """(path, what was expected) of each problem; never the offending value."""
    found = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        expected = item["msg"] if item["type"] == "malformed" else EXPECTED.get(
            item["type"], "not valid")
        found.append((path(item["loc"]), expected))
    return found
