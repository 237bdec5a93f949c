"""What a campaign sends: its content as a WhatsApp message, and whether it is marketing."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import ValidationError

from crm.campaigns.errors import InvalidContent
from crm.campaigns.personalise import fill, has_placeholders
from crm.models import Campaign
from crm.whatsapp.optout import MARKETING, template_category
from crm.whatsapp.schemas import MessageContent


# Keys of a campaign's content that say how to send it, not what.
SETTINGS = ("category", "from_numbers")


def check_settings(content: Any) -> None:
    """Refuse sending settings of the wrong shape (InvalidContent naming the key): they are read
    when the campaign runs, and a wrong type there must not fail the run half-way."""
    if not isinstance(content, dict):
        return  # content_json says what is wrong with such content
    numbers = content.get("from_numbers")
    if numbers is not None and not (
        isinstance(numbers, list) and all(isinstance(n, str) and n for n in numbers)
    ):
        raise InvalidContent(
            'content.from_numbers: a list of the sending numbers\' phone_number_ids, e.g. '
            '["106540352242922"]; leave it out to send from every active number.'
        )
    category = content.get("category")
    if category is not None and not isinstance(category, str):
        raise InvalidContent("content.category: MARKETING, UTILITY or AUTHENTICATION, as text.")


def content_json(campaign: Campaign) -> dict[str, Any]:
    """The campaign's message as JSON: `content` is either a full message object (`{"type":
    "text", "text": {...}}`) or, as wb-crm stores it, the object of the campaign's type."""
    content: Any = campaign.content or {}
    if not isinstance(content, dict):
        raise InvalidContent("The campaign's content must be a JSON object.")
    content = {k: v for k, v in content.items() if k not in SETTINGS}
    if "type" not in content:
        content = {"type": campaign.type, campaign.type: content}
    return content


# What a placeholder stands for while the content is checked before a run: a value that is
# valid wherever a placeholder may be (a text, a parameter, a media link).
SAMPLE = "https://example.com/1"


def message_content(campaign: Campaign) -> MessageContent:
    """The campaign's message, checked as WhatsApp would check it (placeholders as a sample)."""
    content = content_json(campaign)
    if has_placeholders(content):
        content = fill(content, defaultdict(lambda: SAMPLE))
    return validated(campaign, content)


def validated(campaign: Campaign, content: dict[str, Any]) -> MessageContent:
    """`content` (the campaign's message JSON, perhaps filled for a recipient) as a message."""
    try:
        return MessageContent.model_validate(content)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'content'}: {e['msg']}" for e in error.errors()
        )
        raise InvalidContent(
            f"The campaign's content is not a valid WhatsApp {campaign.type} message ({problems})."
            " Fix the campaign's content."
        ) from None


def is_marketing(campaign: Campaign) -> bool:
    """A template campaign is marketing unless its content (`category`) or the stored template
    says utility or authentication: when unknown, opted-out customers are spared."""
    if campaign.type != Campaign.Type.TEMPLATE:
        return False
    content = campaign.content if isinstance(campaign.content, dict) else {}
    template = message_content(campaign).template
    category = content.get("category") or (
        template_category(template.name, template.language.code) if template else None
    )
    return str(category or MARKETING).upper() == MARKETING
