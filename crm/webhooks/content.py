"""What each message type carries, mapped to Message columns, with a readable body summary."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm.webhooks.payload import (
    Content,
    MalformedPayload,
    OrderDetails,
    OrderLine,
    as_list,
    as_object,
    integer,
    number,
    optional_list,
    optional_object,
    required_object,
    required_text,
    text,
)

MEDIA_TYPES = ("image", "video", "audio", "sticker", "document")
INTERACTIVE_TYPES = ("button_reply", "list_reply", "nfm_reply")


def _text(message: dict[str, Any], where: str) -> Content:
    body = text(required_object(message, "text", where), "body", f"{where}.text")
    if body is None:
        raise MalformedPayload(f"{where}.text.body", "expected a string")
    return Content(body=body)


def _media(kind: str) -> Callable[[dict[str, Any], str], Content]:
    def parse(message: dict[str, Any], where: str) -> Content:
        media = required_object(message, kind, where)
        at = f"{where}.{kind}"
        caption = text(media, "caption", at)
        return Content(
            body=caption,
            media_id=required_text(media, "id", at),
            caption=caption,
            filename=text(media, "filename", at),
            mime_type=text(media, "mime_type", at),
        )

    parse.__doc__ = f"An {kind} message: Meta's media id, caption, file name and type."
    return parse


def _location(message: dict[str, Any], where: str) -> Content:
    location = required_object(message, "location", where)
    at = f"{where}.location"
    latitude = number(location, "latitude", at, required=True)
    longitude = number(location, "longitude", at, required=True)
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):  # type: ignore[operator]
        raise MalformedPayload(at, "latitude or longitude out of range")
    place = ", ".join(p for p in (text(location, "name", at), text(location, "address", at)) if p)
    body = f"Location: {place} ({latitude}, {longitude})" if place else (
        f"Location: ({latitude}, {longitude})"
    )
    return Content(body=body, latitude=latitude, longitude=longitude)


def _contact_summary(contact: dict[str, Any], where: str) -> str:
    name = optional_object(contact, "name", where) or {}
    label = text(name, "formatted_name", f"{where}.name") or text(
        name, "first_name", f"{where}.name"
    )
    phones = [
        text(as_object(phone, f"{where}.phones[{i}]"), "phone", f"{where}.phones[{i}]")
        for i, phone in enumerate(optional_list(contact, "phones", where))
    ]
    phone = next((p for p in phones if p), None)
    if label and phone:
        return f"{label} ({phone})"
    return label or phone or "contact"


def _contacts(message: dict[str, Any], where: str) -> Content:
    contacts = as_list(message.get("contacts"), f"{where}.contacts")
    if not contacts:
        raise MalformedPayload(f"{where}.contacts", "expected at least one contact")
    summaries = [
        _contact_summary(as_object(c, f"{where}.contacts[{i}]"), f"{where}.contacts[{i}]")
        for i, c in enumerate(contacts)
    ]
    label = "Contact: " if len(summaries) == 1 else "Contacts: "
    return Content(body=label + "; ".join(summaries))


def _interactive(message: dict[str, Any], where: str) -> Content | None:
    interactive = required_object(message, "interactive", where)
    at = f"{where}.interactive"
    kind = required_text(interactive, "type", at)
    if kind not in INTERACTIVE_TYPES:
        return None  # a reply kind Meta added later: ignored like an unknown type
    reply = required_object(interactive, kind, at)
    at = f"{at}.{kind}"
    if kind == "nfm_reply":  # a WhatsApp Flow's answers: in raw_message, not in the body
        text(reply, "response_json", at)
        flow = text(reply, "name", at) or "flow"
        return Content(body=text(reply, "body", at) or f"Flow response ({flow})")
    required_text(reply, "id", at)
    return Content(body=required_text(reply, "title", at))


def _button(message: dict[str, Any], where: str) -> Content:
    button = required_object(message, "button", where)
    at = f"{where}.button"
    label = text(button, "text", at) or text(button, "payload", at)
    if not label:
        raise MalformedPayload(at, "expected a text or a payload")
    return Content(body=label)


def _order_line(item: dict[str, Any], where: str) -> OrderLine:
    return OrderLine(
        product_retailer_id=required_text(item, "product_retailer_id", where),
        quantity=integer(item, "quantity", where, required=True, minimum=1) or 1,
        item_price=number(item, "item_price", where),
        currency=text(item, "currency", where),
    )


def _order(message: dict[str, Any], where: str) -> Content:
    order = required_object(message, "order", where)
    at = f"{where}.order"
    items = as_list(order.get("product_items"), f"{at}.product_items")
    lines = tuple(
        _order_line(as_object(item, f"{at}.product_items[{i}]"), f"{at}.product_items[{i}]")
        for i, item in enumerate(items)
    )
    if not lines:
        raise MalformedPayload(f"{at}.product_items", "expected at least one product")
    catalog_id = text(order, "catalog_id", at)
    units = sum(line.quantity for line in lines)
    body = f"Order: {units} item{'s' if units != 1 else ''}"
    note = text(order, "text", at)
    return Content(
        body=f"{body}: {note}" if note else body,
        order=OrderDetails(catalog_id=catalog_id, lines=lines),
    )


def _reaction(message: dict[str, Any], where: str) -> Content:
    reaction = required_object(message, "reaction", where)
    at = f"{where}.reaction"
    required_text(reaction, "message_id", at)
    emoji = text(reaction, "emoji", at)
    return Content(body=f"Reacted {emoji}" if emoji else "Removed a reaction")


PARSERS: dict[str, Callable[[dict[str, Any], str], Content | None]] = {
    "text": _text,
    **{kind: _media(kind) for kind in MEDIA_TYPES},
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "order": _order,
    "reaction": _reaction,
}


def parse_content(kind: str, message: dict[str, Any], where: str) -> Content | None:
    """The content of a message of type `kind`; None for a type we do not store."""
    parser = PARSERS.get(kind)
    return None if parser is None else parser(message, where)
