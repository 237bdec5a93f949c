"""What each message type carries, mapped to Message columns, with a readable body summary."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm.webhooks.payload import Content, OrderDetails, OrderLine
from crm.whatsapp import inbound
from crm.whatsapp import inbound_objects as objects
from crm.whatsapp.media_types import is_media_id


def _text(text: objects.TextObject) -> Content:
    return Content(body=text.body)


def _media(media: objects.MediaObject) -> Content:
    """Meta's media id (dropped when it is not one: it names a file), caption, name and type."""
    return Content(body=media.caption, media_id=media.id if is_media_id(media.id) else None,
                   caption=media.caption, filename=media.filename, mime_type=media.mime_type)


def _location(location: objects.LocationObject) -> Content:
    place = ", ".join(p for p in (location.name, location.address) if p)
    where = f"({location.latitude}, {location.longitude})"
    return Content(body=f"Location: {place} {where}" if place else f"Location: {where}",
                   latitude=location.latitude, longitude=location.longitude)


def _contact_summary(contact: objects.ContactCard) -> str:
    name = contact.name or objects.ContactName()
    label = name.formatted_name or name.first_name
    phone = next((p.phone for p in contact.phones if p.phone), None)
    if label and phone:
        return f"{label} ({phone})"
    return label or phone or "contact"


def _contacts(contacts: tuple[objects.ContactCard, ...]) -> Content:
    label = "Contact: " if len(contacts) == 1 else "Contacts: "
    return Content(body=label + "; ".join(_contact_summary(c) for c in contacts))


def _interactive(interactive: objects.InteractiveObject) -> Content | None:
    if interactive.type not in objects.INTERACTIVE_TYPES:
        return None  # a reply kind Meta added later: ignored like an unknown type
    if interactive.nfm_reply is not None:  # a WhatsApp Flow's answers: in raw_message
        flow = interactive.nfm_reply
        return Content(body=flow.body or f"Flow response ({flow.name or 'flow'})")
    reply = interactive.button_reply or interactive.list_reply
    assert reply is not None, "validated: the reply of the message's own kind is there"
    return Content(body=reply.title)


def _button(button: objects.ButtonObject) -> Content:
    return Content(body=button.text or button.payload)


def _order(order: objects.OrderObject) -> Content:
    lines = tuple(
        OrderLine(product_retailer_id=item.product_retailer_id, quantity=item.quantity,
                  item_price=item.item_price, currency=item.currency)
        for item in order.product_items
    )
    units = sum(line.quantity for line in lines)
    body = f"Order: {units} item{'s' if units != 1 else ''}"
    return Content(
        body=f"{body}: {order.text}" if order.text else body,
        order=OrderDetails(catalog_id=order.catalog_id, lines=lines),
    )


def _reaction(reaction: objects.ReactionObject) -> Content:
    return Content(body=f"Reacted {reaction.emoji}" if reaction.emoji else "Removed a reaction")


def _edit(edit: objects.EditObject) -> Content:
    """The edit's own row says what the message now reads (the message itself changes too)."""
    body = edit.message.body if edit.message else None
    return Content(body=f"Edited a message: {body}" if body else "Edited a message")


def _revoke(_: objects.RevokeObject) -> Content:
    return Content(body="Deleted a message")


BUILDERS: dict[str, Callable[[Any], Content | None]] = {
    "text": _text,
    **dict.fromkeys(objects.MEDIA_TYPES, _media),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "order": _order,
    "reaction": _reaction,
    "edit": _edit,
    "revoke": _revoke,
}


def _described(message: inbound.MessageItem, raw: dict[str, Any]) -> Content:
    """A message of a kind without columns of its own (unsupported, unknown, system, a reply
    kind Meta added later, one carrying only errors): kept with a line saying what it is."""
    if message.type == "system" and message.system is not None and message.system.body:
        return Content(body=message.system.body)
    errors = raw.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(
        errors[0], dict) else {}
    reason = first.get("title") or first.get("message")
    kind = message.type
    if kind == "interactive" and isinstance(raw.get("interactive"), dict):
        kind = f"interactive {raw['interactive'].get('type') or ''}".strip()
    text = f"Message of a kind WhatsApp does not show here ({kind})"
    return Content(body=f"{text}: {reason}" if isinstance(reason, str) and reason else text)


def content_of(message: inbound.MessageItem, raw: dict[str, Any]) -> Content:
    """The content of a validated message; kinds without columns of their own are described."""
    found = message.object
    built = None if found is None else BUILDERS[message.type](found)
    return built if built is not None else _described(message, raw)
