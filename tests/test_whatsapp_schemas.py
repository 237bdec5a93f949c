"""Message schemas: every type Meta accepts, clear refusals, and limits shared with inbound."""
from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crm.webhooks.parsing import parse_payload
from crm.whatsapp.schemas import MAX_ID_LENGTH, MESSAGE_TYPES, MessageContent, OutboundMessage
from tests import whatsapp_payloads as wp

# One valid content of every type (the API's `send/` accepts exactly these shapes).
CONTENTS: dict[str, dict[str, Any]] = {
    "text": {"text": {"body": "Hello", "preview_url": True}},
    "template": {"template": {
        "name": "order_update", "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [
                {"type": "image", "image": {"link": "https://example.com/a.png"}}]},
            {"type": "body", "parameters": [
                {"type": "text", "text": "Asha"},
                {"type": "currency", "currency": {"fallback_value": "$10", "code": "USD",
                                                  "amount_1000": 10000}}]},
            {"type": "button", "sub_type": "quick_reply", "index": 0,
             "parameters": [{"type": "payload", "payload": "TRACK"}]},
        ]}},
    "image": {"image": {"id": "1234567890", "caption": "our menu"}},
    "document": {"document": {"link": "https://example.com/i.pdf", "filename": "invoice.pdf"}},
    "audio": {"audio": {"id": "555"}},
    "video": {"video": {"link": "https://example.com/v.mp4", "caption": "how to"}},
    "sticker": {"sticker": {"id": "777"}},
    "interactive": {"interactive": {
        "type": "button", "body": {"text": "Confirm?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                               {"type": "reply", "reply": {"id": "no", "title": "No"}}]}}},
    "location": {"location": {"latitude": 12.97, "longitude": 77.59, "name": "Clinic"}},
    "contacts": {"contacts": [{"name": {"formatted_name": "Front desk"},
                               "phones": [{"phone": "+91 80 1234 5678", "type": "WORK"}]}]},
    "reaction": {"reaction": {"message_id": "wamid.ABC", "emoji": "\N{THUMBS UP SIGN}"}},
}
LIST = {"type": "list", "body": {"text": "Pick a slot"}, "action": {
    "button": "Slots", "sections": [
        {"title": "Morning", "rows": [{"id": "m1", "title": "9:00"}]},
        {"title": "Evening", "rows": [{"id": "e1", "title": "18:00", "description": "late"}]}]}}


def test_every_type_has_an_example() -> None:
    assert set(CONTENTS) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("kind", MESSAGE_TYPES)
def test_every_type_builds_meta_s_body(kind: str) -> None:
    content = MessageContent.model_validate({"type": kind, **CONTENTS[kind]})
    sent = OutboundMessage.build(content, "919000000001", reply_to="wamid.PREV").as_json()
    assert sent["messaging_product"] == "whatsapp" and sent["to"] == "919000000001"
    assert sent["type"] == kind and sent["context"] == {"message_id": "wamid.PREV"}
    assert set(sent) == {"messaging_product", "recipient_type", "to", "type", kind, "context"}


CTA_URL = {"type": "cta_url", "body": {"text": "See it"}, "action": {
    "name": "cta_url", "parameters": {"display_text": "Open", "url": "https://example.com/menu"}}}


@pytest.mark.parametrize("interactive", [LIST, CTA_URL], ids=["list", "cta_url"])
def test_an_interactive_list_and_a_cta_url_reach_meta_as_written(
    interactive: dict[str, Any],
) -> None:
    content = MessageContent.model_validate({"type": "interactive", "interactive": interactive})
    assert OutboundMessage.build(content, "1").as_json()["interactive"] == interactive


def test_removing_a_reaction_keeps_the_empty_emoji() -> None:
    content = MessageContent.model_validate(
        {"type": "reaction", "reaction": {"message_id": "wamid.A", "emoji": ""}})
    assert OutboundMessage.build(content, "1").as_json()["reaction"]["emoji"] == ""


@pytest.mark.parametrize(("content", "says"), [
    ({"type": "text"}, "needs its `text` object"),
    ({"type": "text", "text": {"body": "x"}, "image": {"id": "1"}}, "cannot also carry image"),
    ({"type": "text", "text": {"body": ""}}, "at least 1 character"),
    ({"type": "text", "text": {"body": "x" * 4097}}, "at most 4096"),
    ({"type": "fax", "fax": {}}, "Input should be"),
    ({"type": "image", "image": {}}, "exactly one of `id`"),
    ({"type": "image", "image": {"id": "1", "link": "https://e.com/a.png"}}, "exactly one"),
    ({"type": "image", "image": {"link": "not a url"}}, "URL"),
    ({"type": "text", "text": {"body": "x", "bold": True}}, "Extra inputs are not permitted"),
    ({"type": "interactive", "interactive": {"type": "button", "body": {"text": "?"},
      "action": {"buttons": [{"reply": {"id": str(i), "title": "t"}} for i in range(4)]}}},
     "at most 3"),
    ({"type": "interactive", "interactive": {"type": "button", "body": {"text": "?"},
      "action": {"buttons": [{"reply": {"id": "a", "title": "x" * 21}}]}}}, "at most 20"),
    ({"type": "interactive", "interactive": {**LIST, "action": {"button": "b", "sections": [
        {"title": "s", "rows": [{"id": str(i), "title": "t"} for i in range(11)]}]}}},
     "at most 10"),
    ({"type": "interactive", "interactive": {**LIST, "action": {"button": "b", "sections": [
        {"title": "s", "rows": [{"id": "a", "title": "t"}, {"id": "a", "title": "u"}]}]}}},
     "distinct ids"),
    ({"type": "interactive", "interactive": {"type": "list", "body": {"text": "?"},
      "action": {"buttons": [{"reply": {"id": "a", "title": "t"}}]}}}, "`action.button`"),
    ({"type": "template", "template": {"name": "x", "language": {"code": "en"},
      "components": [{"type": "body", "parameters": [{"type": "text"}]}]}},
     "needs its `text` field"),
    ({"type": "template", "template": {"name": "x", "language": {"code": "en"},
      "components": [{"type": "button", "parameters": []}]}}, "`sub_type` and `index`"),
    ({"type": "location", "location": {"latitude": 91, "longitude": 0}}, "less than or equal"),
    ({"type": "reaction", "reaction": {"message_id": "", "emoji": "x"}}, "at least 1"),
])
def test_malformed_content_is_refused_saying_why(content: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        MessageContent.model_validate(content)
    assert says in str(raised.value)


def test_inbound_reads_only_the_object_of_the_message_s_type_and_ignores_new_fields() -> None:
    item = {**wp.text("919812345678", "hi"), "image": 5, "brand_new": {"x": 1}}
    item["text"]["added_by_meta_later"] = True
    payload = wp.delivery(wp.entry(wp.change("1065", "15550001111", messages=[item])))
    [message] = parse_payload(wp.body(payload)).changes[0].messages
    assert message.content is not None and message.content.body == "hi"
    assert message.raw["brand_new"] == {"x": 1}  # stored as received


def test_inbound_and_outbound_share_the_limits() -> None:
    where = {"latitude": 90.5, "longitude": 0}
    with pytest.raises(ValidationError):
        MessageContent.model_validate({"type": "location", "location": where})
    item = {**wp.location("919812345678"), "location": where}
    payload = wp.delivery(wp.entry(wp.change("1065", "15550001111", messages=[item])))
    parsed = parse_payload(wp.body(payload))
    assert parsed.changes[0].messages == ()  # skipped on its own, named in the problems
    assert parsed.problems == (("entry[0].changes[0].value.messages[0].location",
                                "latitude or longitude out of range"),)
    long_id = {**wp.text("919812345678", "hi"), "id": "w" * (MAX_ID_LENGTH + 1)}
    delivery = wp.delivery(wp.entry(wp.change("1", "2", messages=[long_id])))
    parsed = parse_payload(wp.body(delivery))
    assert parsed.problems == (("entry[0].changes[0].value.messages[0].id", "id too long"),)
