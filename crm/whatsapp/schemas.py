"""Meta's WhatsApp message objects as pydantic v2 models (limits as Meta documents them).

`MessageContent` is what a caller chooses to send (`type` and the matching object);
`OutboundMessage` is the full body of `POST /{phone_number_id}/messages`. What Meta sends us
(webhook deliveries) is modelled in crm.whatsapp.inbound with the same limits; its models ignore
fields Meta adds, where these refuse unknown ones (a typo must not drop part of a message).
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from crm.whatsapp.media_types import MEDIA_ID

MESSAGE_TYPES = ("text", "template", "image", "document", "audio", "video", "sticker",
                 "interactive", "location", "contacts", "reaction")
MessageType = Literal["text", "template", "image", "document", "audio", "video", "sticker",
                      "interactive", "location", "contacts", "reaction"]
# Limits shared by what we send and what we receive (crm.whatsapp.inbound): ids are indexed
# (wamid, wa_id), so a far longer one would fail the btree, not just look odd.
MAX_ID_LENGTH = 256
# A business-scoped user id: a country code, a period, alphanumerics (a parent's has "ENT.").
USER_ID = re.compile(r"\A[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}\Z")
LATITUDE, LONGITUDE = (-90.0, 90.0), (-180.0, 180.0)
Wamid = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]


class Schema(BaseModel):
    """Unknown fields are refused: a typo must not silently drop part of a message."""

    model_config = ConfigDict(extra="forbid")


class Text(Schema):
    body: str = Field(min_length=1, max_length=4096)
    preview_url: bool = False


class _Media(Schema):
    """Uploaded media by `id`, or a public HTTPS `link`: exactly one of them."""

    # Stored as the message's media_id, which names a file: never a dot or a path.
    id: str | None = Field(default=None, pattern=f"^{MEDIA_ID.pattern}$",
                           description="Meta's media id (from POST /api/v1/media/)")
    link: HttpUrl | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _Media:
        if (self.id is None) == (self.link is None):
            raise ValueError("give exactly one of `id` (an uploaded media id) or `link` (a URL)")
        return self


class Image(_Media):
    caption: str | None = Field(default=None, max_length=1024)


class Video(_Media):
    caption: str | None = Field(default=None, max_length=1024)


class Audio(_Media):
    pass


class Sticker(_Media):
    pass


class Document(_Media):
    caption: str | None = Field(default=None, max_length=1024)
    filename: str | None = Field(default=None, max_length=240)


class Location(Schema):
    latitude: float = Field(ge=LATITUDE[0], le=LATITUDE[1])
    longitude: float = Field(ge=LONGITUDE[0], le=LONGITUDE[1])
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)


class Reaction(Schema):
    """An emoji on a message of the conversation; an empty emoji removes the reaction."""

    message_id: Wamid
    emoji: str = Field(max_length=16)


# --- contacts --------------------------------------------------------------------------------


class ContactName(Schema):
    formatted_name: str = Field(min_length=1, max_length=512)
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None


class ContactPhone(Schema):
    phone: str | None = Field(default=None, max_length=64)
    type: str | None = None
    wa_id: str | None = Field(default=None, max_length=64)


class ContactEmail(Schema):
    email: str | None = None
    type: str | None = None


class ContactUrl(Schema):
    url: str | None = None
    type: str | None = None


class ContactAddress(Schema):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class ContactOrg(Schema):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class Contact(Schema):
    name: ContactName
    phones: list[ContactPhone] = Field(default_factory=list)
    emails: list[ContactEmail] = Field(default_factory=list)
    urls: list[ContactUrl] = Field(default_factory=list)
    addresses: list[ContactAddress] = Field(default_factory=list)
    org: ContactOrg | None = None
    birthday: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")


# --- templates -------------------------------------------------------------------------------


class Currency(Schema):
    fallback_value: str
    code: str = Field(min_length=3, max_length=3)
    amount_1000: int


class DateTime(Schema):
    fallback_value: str


class TemplateParameter(Schema):
    """One parameter of a template component; the field named by `type` carries the value."""

    type: Literal["text", "currency", "date_time", "image", "document", "video", "location",
                  "payload", "coupon_code", "action"]
    parameter_name: str | None = Field(default=None, max_length=100)  # named parameters
    text: str | None = Field(default=None, max_length=32768)
    payload: str | None = Field(default=None, max_length=256)
    coupon_code: str | None = Field(default=None, max_length=20)
    currency: Currency | None = None
    date_time: DateTime | None = None
    image: Image | None = None
    document: Document | None = None
    video: Video | None = None
    location: Location | None = None
    action: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _value_of_type(self) -> TemplateParameter:
        if getattr(self, self.type) is None:
            raise ValueError(f"a `{self.type}` parameter needs its `{self.type}` field")
        return self


class TemplateComponent(Schema):
    type: Literal["header", "body", "footer", "button", "carousel", "limited_time_offer"]
    sub_type: str | None = None  # buttons: quick_reply, url, copy_code, flow, ...
    index: int | None = Field(default=None, ge=0, le=9)
    parameters: list[TemplateParameter] = Field(default_factory=list)
    cards: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _button_position(self) -> TemplateComponent:
        if self.type == "button" and (self.sub_type is None or self.index is None):
            raise ValueError("a button component needs `sub_type` and `index`")
        return self


class TemplateLanguage(Schema):
    code: str = Field(min_length=2, max_length=15)
    policy: Literal["deterministic"] = "deterministic"


class Template(Schema):
    name: str = Field(min_length=1, max_length=512)
    language: TemplateLanguage
    components: list[TemplateComponent] = Field(default_factory=list)


# --- interactive -----------------------------------------------------------------------------


class InteractiveHeader(Schema):
    type: Literal["text", "image", "video", "document"]
    text: str | None = Field(default=None, max_length=60)
    image: Image | None = None
    video: Video | None = None
    document: Document | None = None

    @model_validator(mode="after")
    def _value_of_type(self) -> InteractiveHeader:
        if getattr(self, self.type) is None:
            raise ValueError(f"a `{self.type}` header needs its `{self.type}` field")
        return self


class InteractiveText(Schema):
    text: str = Field(min_length=1, max_length=1024)


class InteractiveFooter(Schema):
    text: str = Field(min_length=1, max_length=60)


class ReplyButtonReply(Schema):
    id: str = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=20)


class ReplyButton(Schema):
    type: Literal["reply"] = "reply"
    reply: ReplyButtonReply


class ListRow(Schema):
    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=24)
    description: str | None = Field(default=None, max_length=72)


class ListSection(Schema):
    title: str | None = Field(default=None, max_length=24)
    rows: list[ListRow] = Field(min_length=1, max_length=10)


class CtaUrlParameters(Schema):
    display_text: str = Field(min_length=1, max_length=20)
    url: HttpUrl


class InteractiveAction(Schema):
    buttons: list[ReplyButton] | None = Field(default=None, min_length=1, max_length=3)
    button: str | None = Field(default=None, min_length=1, max_length=20)  # a list's opener
    sections: list[ListSection] | None = Field(default=None, min_length=1, max_length=10)
    name: str | None = None  # cta_url, flow
    # A cta_url's parameters when they fit, else a flow's (as Meta defines them).
    parameters: CtaUrlParameters | dict[str, Any] | None = Field(
        default=None, union_mode="left_to_right"
    )


class Interactive(Schema):
    type: Literal["button", "list", "cta_url", "flow"]
    header: InteractiveHeader | None = None
    body: InteractiveText | None = None
    footer: InteractiveFooter | None = None
    action: InteractiveAction

    @model_validator(mode="after")
    def _shape(self) -> Interactive:
        action = self.action
        if self.type != "flow" and self.body is None:
            raise ValueError(f"an interactive `{self.type}` message needs a `body`")
        if self.type == "button" and not action.buttons:
            raise ValueError("an interactive `button` message needs 1 to 3 `action.buttons`")
        if self.type == "list":
            if not action.button or not action.sections:
                raise ValueError("an interactive `list` needs `action.button` and "
                                 "`action.sections`")
            rows = [row for section in action.sections for row in section.rows]
            if len(rows) > 10:
                raise ValueError("an interactive `list` holds at most 10 rows in all")
            if len({row.id for row in rows}) != len(rows):
                raise ValueError("the rows of an interactive `list` need distinct ids")
            if len(action.sections) > 1 and any(not s.title for s in action.sections):
                raise ValueError("a list with several sections needs a title on each")
        if self.type == "list" and self.header is not None and self.header.type != "text":
            raise ValueError("an interactive `list` header can only be text")
        if self.type == "cta_url" and not isinstance(action.parameters, CtaUrlParameters):
            raise ValueError("an interactive `cta_url` needs `action.parameters` with "
                             "`display_text` and `url`")
        return self


# --- the message -----------------------------------------------------------------------------


class Context(Schema):
    """Reply to a message of the conversation."""

    message_id: Wamid


class MessageContent(Schema):
    """What to send: `type` and the object of that name (`{"type": "text", "text": {...}}`)."""

    type: MessageType
    text: Text | None = None
    template: Template | None = None
    image: Image | None = None
    document: Document | None = None
    audio: Audio | None = None
    video: Video | None = None
    sticker: Sticker | None = None
    interactive: Interactive | None = None
    location: Location | None = None
    contacts: list[Contact] | None = Field(default=None, min_length=1, max_length=257)
    reaction: Reaction | None = None

    @model_validator(mode="after")
    def _one_object(self) -> MessageContent:
        given = [name for name in MESSAGE_TYPES if getattr(self, name) is not None]
        if self.type not in given:
            raise ValueError(f"a `{self.type}` message needs its `{self.type}` object")
        others = [name for name in given if name != self.type]
        if others:
            raise ValueError(f"a `{self.type}` message cannot also carry {', '.join(others)}")
        return self

    @property
    def object(self) -> Any:
        """The object of this message's type (the Text, the Template, ...)."""
        return getattr(self, self.type)


def is_user_id(key: str) -> bool:
    """Whether a customer's key is a business-scoped user id (a username's), not a number."""
    return USER_ID.match(key) is not None


class OutboundMessage(MessageContent):
    """The body of `POST /{phone_number_id}/messages`: to a number (`to`), a business-scoped
    user id (`recipient`), or a group (`recipient_type` "group", its id in `to`)."""

    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual", "group"] = "individual"
    to: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    recipient: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    context: Context | None = None

    @model_validator(mode="after")
    def _addressed(self) -> OutboundMessage:
        if (self.to is None) == (self.recipient is None):
            raise ValueError("a message is sent `to` a number or group, or to a `recipient`")
        return self

    @classmethod
    def build(cls, content: MessageContent, to: str, reply_to: str | None = None, *,
              group: bool = False) -> OutboundMessage:
        """The body sending `content` to `to` (a wa_id, a user id, or a group's id when
        `group`), as a reply to `reply_to` when given."""
        address: dict[str, Any] = (
            {"recipient_type": "group", "to": to} if group
            else {"recipient": to} if is_user_id(to) else {"to": to})
        return cls(
            **content.model_dump(exclude_none=True), **address,
            context=Context(message_id=reply_to) if reply_to else None,
        )

    def as_json(self) -> dict[str, Any]:
        """The JSON Meta expects (unset fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)
