"""Build WhatsApp Cloud API webhook deliveries shaped like Meta's documentation examples.

A delivery is `delivery(entry(change(...), ...), ...)`; each message builder returns one
`messages[]` item, `status()` one `statuses[]` item. `body()` encodes a delivery the way Meta does
(non-ASCII escaped) and `signature()` signs bytes like Meta's X-Hub-Signature-256.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any

SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
WABA_ID = "102290129340398"
BASE_TIME = 1_700_000_000  # 2023-11-14T22:13:20Z

_ids = itertools.count(1)


def new_wamid() -> str:
    """A fresh wamid (Meta's are base64 of the conversation and a message id)."""
    return f"wamid.HBgLMTU1NTAwMDExMTEVAgASGBQzQTBGNDg2{next(_ids):012d}AA=="


def ts(offset: int = 0) -> str:
    """Unix seconds as Meta sends them: a string."""
    return str(BASE_TIME + offset)


def message(kind: str, content: Any, *, sender: str, wamid: str | None = None,
            at: int = 0, **extra: Any) -> dict[str, Any]:
    """A `messages[]` item of type `kind` whose `kind` object is `content` (None: no object)."""
    item: dict[str, Any] = {
        "from": sender, "id": wamid or new_wamid(), "timestamp": ts(at), "type": kind,
    }
    if content is not None:
        item[kind] = content
    item.update(extra)
    return item


def text(sender: str, body: str, **kw: Any) -> dict[str, Any]:
    """A text message."""
    return message("text", {"body": body}, sender=sender, **kw)


def image(sender: str, caption: str | None = "Look at this", **kw: Any) -> dict[str, Any]:
    """An image, with a caption unless None."""
    content = {"mime_type": "image/jpeg", "sha256": "b1f7e7aa9f", "id": "1003383421387256"}
    if caption is not None:
        content["caption"] = caption
    return message("image", content, sender=sender, **kw)


def video(sender: str, **kw: Any) -> dict[str, Any]:
    """A video with a caption."""
    content = {"caption": "Clip", "mime_type": "video/mp4", "sha256": "c2d8", "id": "2004"}
    return message("video", content, sender=sender, **kw)


def audio(sender: str, **kw: Any) -> dict[str, Any]:
    """A voice note."""
    content = {"mime_type": "audio/ogg; codecs=opus", "sha256": "d3e9", "id": "3005",
               "voice": True}
    return message("audio", content, sender=sender, **kw)


def sticker(sender: str, **kw: Any) -> dict[str, Any]:
    """A sticker."""
    content = {"mime_type": "image/webp", "sha256": "e4fa", "id": "4006", "animated": False}
    return message("sticker", content, sender=sender, **kw)


def document(sender: str, **kw: Any) -> dict[str, Any]:
    """A PDF document with a file name and caption."""
    content = {"caption": "My report", "filename": "report.pdf",
               "mime_type": "application/pdf", "sha256": "f50b", "id": "5007"}
    return message("document", content, sender=sender, **kw)


def location(sender: str, **kw: Any) -> dict[str, Any]:
    """A shared location with a name and address."""
    content = {"latitude": 12.9716, "longitude": 77.5946, "name": "Oliva Clinic",
               "address": "MG Road, Bengaluru"}
    return message("location", content, sender=sender, **kw)


def contacts(sender: str, **kw: Any) -> dict[str, Any]:
    """A shared contact card."""
    card = {
        "name": {"formatted_name": "Ravi Kumar", "first_name": "Ravi", "last_name": "Kumar"},
        "phones": [{"phone": "+91 98450 12345", "wa_id": "919845012345", "type": "CELL"}],
        "emails": [{"email": "ravi@example.com", "type": "WORK"}],
    }
    return message("contacts", [card], sender=sender, **kw)


def button_reply(sender: str, **kw: Any) -> dict[str, Any]:
    """A tap on an interactive reply button."""
    content = {"type": "button_reply", "button_reply": {"id": "book-yes", "title": "Yes, book"}}
    return message("interactive", content, sender=sender, **kw)


def list_reply(sender: str, **kw: Any) -> dict[str, Any]:
    """A choice from an interactive list."""
    content = {"type": "list_reply", "list_reply": {
        "id": "hair-removal", "title": "Hair removal", "description": "Laser, 6 sessions"}}
    return message("interactive", content, sender=sender, **kw)


def flow_reply(sender: str, **kw: Any) -> dict[str, Any]:
    """A WhatsApp Flow's answers (nfm_reply)."""
    content = {"type": "nfm_reply", "nfm_reply": {
        "name": "flow", "body": "Sent",
        "response_json": '{"flow_token": "t-1", "city": "Pune", "slot": "10:00"}'}}
    return message("interactive", content, sender=sender, **kw)


def button(sender: str, replied_to: str = "wamid.template", **kw: Any) -> dict[str, Any]:
    """A template's quick-reply button, replying to the template message."""
    content = {"payload": "STOP_PROMOS", "text": "Stop promotions"}
    return message("button", content, sender=sender,
                   context={"from": "15550001111", "id": replied_to}, **kw)


def order(sender: str, items: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    """A catalog order with two products unless `items` says otherwise."""
    content = {
        "catalog_id": "CAT-778899",
        "text": "Please deliver by Friday",
        "product_items": items if items is not None else [
            {"product_retailer_id": "SKU-001", "quantity": 2, "item_price": 499.5,
             "currency": "INR"},
            {"product_retailer_id": "SKU-002", "quantity": 1, "item_price": 1200,
             "currency": "INR"},
        ],
    }
    return message("order", content, sender=sender, **kw)


def reaction(sender: str, reacted_to: str = "wamid.ours", emoji: str = "\U0001F44D",
             **kw: Any) -> dict[str, Any]:
    """A reaction to one of our messages."""
    return message("reaction", {"message_id": reacted_to, "emoji": emoji}, sender=sender, **kw)


def unsupported(sender: str, kind: str = "unsupported", **kw: Any) -> dict[str, Any]:
    """A message type the Cloud API does not support, with Meta's error."""
    errors = [{"code": 131051, "title": "Message type unknown",
               "message": "Message type unknown",
               "error_data": {"details": "Message type is currently not supported."}}]
    return message(kind, None, sender=sender, errors=errors, **kw)


def with_referral(item: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """`item` as the first message after a click-to-WhatsApp ad."""
    item["referral"] = {
        "source_url": "https://fb.me/3cr4Wqqkz",
        "source_id": "120201234567890123",
        "source_type": "ad",
        "headline": "Laser hair removal, 50% off",
        "body": "Book your first session today",
        "media_type": "image",
        "image_url": "https://scontent.xx.fbcdn.net/ad.jpg",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2",
        **fields,
    }
    return item


def status(wamid: str, state: str, recipient: str, at: int = 0,
           errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A `statuses[]` item about a message we sent."""
    item: dict[str, Any] = {"id": wamid, "status": state, "timestamp": ts(at),
                            "recipient_id": recipient}
    if state in ("sent", "delivered"):
        item["conversation"] = {"id": "c0ffee", "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if errors is not None:
        item["errors"] = errors
    return item


def failure(code: int = 131047, title: str = "Re-engagement message") -> list[dict[str, Any]]:
    """Meta's `errors` of a failed status."""
    return [{"code": code, "title": title, "message": title,
             "error_data": {"details": "More than 24 hours have passed since the customer "
                                       "last replied to this number."}}]


def change(phone_number_id: str, display_phone_number: str, *,
           messages: list[dict[str, Any]] | None = None,
           statuses: list[dict[str, Any]] | None = None,
           names: dict[str, str] | None = None) -> dict[str, Any]:
    """A `changes[]` item of field "messages" for one receiving number."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_phone_number,
                     "phone_number_id": phone_number_id},
    }
    if messages is not None:
        senders = dict.fromkeys(m["from"] for m in messages)
        value["contacts"] = [
            {"profile": {"name": (names or {}).get(wa_id, f"Customer {wa_id[-4:]}")},
             "wa_id": wa_id}
            for wa_id in senders
        ]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {"value": value, "field": "messages"}


def entry(*changes: dict[str, Any], waba_id: str = WABA_ID) -> dict[str, Any]:
    """An `entry[]` item of one WhatsApp Business Account."""
    return {"id": waba_id, "changes": list(changes)}


def delivery(*entries: dict[str, Any]) -> dict[str, Any]:
    """A whole webhook delivery."""
    return {"object": "whatsapp_business_account", "entry": list(entries)}


def body(payload: Any) -> bytes:
    """The delivery's bytes, encoded like Meta (non-ASCII as \\u escapes)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def signature(raw: bytes, secret: str = SECRET) -> str:
    """The X-Hub-Signature-256 header for `raw`."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
