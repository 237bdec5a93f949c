"""What a campaign sends: its content as a WhatsApp message, and whether it is marketing."""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from crm.campaigns.errors import InvalidContent
from crm.models import Campaign
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
    """Templates are marketing unless the content says they are utility or authentication."""
    content = campaign.content if isinstance(campaign.content, dict) else {}
    category = str(content.get("category") or "marketing").lower()
    return campaign.type == Campaign.Type.TEMPLATE and category == "marketing"
