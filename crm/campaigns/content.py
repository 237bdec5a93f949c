"""What a campaign sends: its content as a WhatsApp message, and whether it is marketing."""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from crm.campaigns.errors import InvalidContent
from crm.models import Campaign
from crm.whatsapp.optout import MARKETING, template_category
from crm.whatsapp.schemas import MessageContent


def message_content(campaign: Campaign) -> MessageContent:
    """The campaign's message: `content` is either a full message object (`{"type": "text",
    "text": {...}}`) or, as wb-crm stores it, the object of the campaign's type."""
    content: Any = campaign.content or {}
    if not isinstance(content, dict):
        raise InvalidContent("The campaign's content must be a JSON object.")
    if "type" not in content:
        kind = campaign.type
        inner = {k: v for k, v in content.items() if k != "category"}
        content = {"type": kind, kind: inner}
    try:
        return MessageContent.model_validate(
            {k: v for k, v in content.items() if k != "category"}
        )
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
