"""The objects a webhook message carries (text, media, location, ...), as pydantic models, and the
checked types every inbound model uses (crm.whatsapp.inbound holds the delivery around them).

Unix seconds before 2100 (a digit string too), finite numbers, integers that fit a database
column, ids of at most 256 characters; unknown fields ignored (Meta adds some over time).
"""
from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crm.whatsapp.media_types import SAFE, normalised
from crm.whatsapp.schemas import LATITUDE, LONGITUDE, MAX_ID_LENGTH

# Unix seconds up to 2100-01-01: beyond that a timestamp is a malformed one, not a date.
MAX_UNIX_SECONDS = 4102444800
MAX_INT32 = 2**31 - 1
MEDIA_TYPES = ("image", "video", "audio", "sticker", "document")
INTERACTIVE_TYPES = ("button_reply", "list_reply", "nfm_reply")


def malformed(problem: str) -> PydanticCustomError:
    """A validation error saying what was expected (crm.whatsapp.inbound.problems reads it)."""
    return PydanticCustomError("malformed", problem)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise malformed("expected a number")
    return float(value)


def _int32(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.isascii():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT32:
        raise malformed("expected an integer in range")
    return value


def _unix_time(value: Any) -> datetime:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < MAX_UNIX_SECONDS:
        raise malformed("expected Unix seconds")
    return datetime.fromtimestamp(value, tz=UTC)


def as_array(value: Any) -> Any:
    """An array; absent or null is an empty one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise malformed("expected an array")
    return value


def _media_type(value: str | None) -> str | None:
    """A customer's file type, lower-cased; application/octet-stream when it is not one."""
    # Never refused (the delivery holds other messages), never kept as it came (a header).
    return None if value is None else normalised(value) or SAFE


String = Annotated[str, Strict()]
Text = String | None
Filled = Annotated[str, Strict(), Field(min_length=1)]
Identifier = Annotated[str, Strict(), Field(min_length=1, max_length=MAX_ID_LENGTH)]
# A phone-number id a user with a username may leave empty (their `user_id` names them then).
MaybeEmptyId = Annotated[str, Strict(), Field(max_length=MAX_ID_LENGTH)] | None
# None passes the checks (and is refused by the type where a value is required), so an optional
# field's error names the field itself, not a member of an `X | None` union.
Number = Annotated[float, BeforeValidator(_number)]
OptionalNumber = Annotated[float | None, BeforeValidator(_number)]
Int32 = Annotated[int, BeforeValidator(_int32)]
OptionalInt32 = Annotated[int | None, BeforeValidator(_int32)]
UnixTime = Annotated[datetime, BeforeValidator(_unix_time)]
MediaType = Annotated[Text, AfterValidator(_media_type)]


class Inbound(BaseModel):
    """Meta adds fields over time: unknown ones are ignored, never refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class TextObject(Inbound):
    body: String


class MediaObject(Inbound):
    id: Filled
    caption: Text = None
    filename: Text = None
    mime_type: MediaType = None


class LocationObject(Inbound):
    latitude: Number
    longitude: Number
    name: Text = None
    address: Text = None

    @model_validator(mode="after")
    def _on_earth(self) -> LocationObject:
        if not (LATITUDE[0] <= self.latitude <= LATITUDE[1]
                and LONGITUDE[0] <= self.longitude <= LONGITUDE[1]):
            raise malformed("latitude or longitude out of range")
        return self


class ContactName(Inbound):
    formatted_name: Text = None
    first_name: Text = None


class ContactPhone(Inbound):
    phone: Text = None


class ContactCard(Inbound):
    name: ContactName | None = None
    phones: Annotated[tuple[ContactPhone, ...], BeforeValidator(as_array)] = ()


class Reply(Inbound):
    id: Filled
    title: Filled


class FlowReply(Inbound):
    response_json: Text = None
    name: Text = None
    body: Text = None


class InteractiveObject(Inbound):
    type: Filled
    button_reply: Reply | None = None
    list_reply: Reply | None = None
    nfm_reply: FlowReply | None = None

    @model_validator(mode="before")
    @classmethod
    def _own_kind_only(cls, data: Any) -> Any:
        """Validate the reply of the message's own kind; a kind Meta added later is ignored."""
        if not isinstance(data, dict) or data.get("type") not in INTERACTIVE_TYPES:
            return data
        kind, reply = data["type"], data.get(data["type"])
        return {"type": kind, kind: MISSING if reply is None else reply}


class ButtonObject(Inbound):
    text: Text = None
    payload: Text = None

    @model_validator(mode="after")
    def _labelled(self) -> ButtonObject:
        if not (self.text or self.payload):
            raise malformed("expected a text or a payload")
        return self


class ProductItem(Inbound):
    product_retailer_id: Filled
    quantity: Annotated[Int32, Field(ge=1)]
    item_price: OptionalNumber = None
    currency: Text = None


class OrderObject(Inbound):
    catalog_id: Text = None
    text: Text = None
    product_items: Annotated[tuple[ProductItem, ...], Field(min_length=1)]


class ReactionObject(Inbound):
    message_id: Filled
    emoji: Text = None


class EditedMessage(Inbound):
    """The new content of an edited message: a text, or a media item's caption."""

    type: Text = None
    text: TextObject | None = None
    image: MediaObject | None = None
    video: MediaObject | None = None
    document: MediaObject | None = None

    @property
    def body(self) -> str | None:
        """The edited text or caption."""
        found = getattr(self, self.type or "", None) if self.type in (
            "text", "image", "video", "document") else None
        return found.body if isinstance(found, TextObject) else getattr(found, "caption", None)


class EditObject(Inbound):
    original_message_id: Identifier
    message: EditedMessage | None = None


class RevokeObject(Inbound):
    original_message_id: Identifier


class SystemObject(Inbound):
    """A change WhatsApp reports about the customer: a new number or user id, a new identity,
    a marketing preference."""

    body: Text = None
    type: Text = None
    wa_id: Text = None
    user_id: Text = None
    customer: Text = None
    marketing: Text = None


MISSING = object()  # fails every object's validation: "expected an object"
