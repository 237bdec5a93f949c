"""Why a campaign action was refused; each message says what to do about it."""
from __future__ import annotations


class CampaignActionError(Exception):
    """The action does not apply to the campaign as it is (HTTP 400)."""

    status = 400


class CampaignBusy(CampaignActionError):
    """The campaign already has a running job (HTTP 409)."""

    status = 409


class InvalidContent(CampaignActionError):
    """The campaign's content is not a message WhatsApp accepts (HTTP 400)."""


class AudienceRefused(CampaignActionError):
    """Customers that cannot be added to the audience; `field` names what to fix (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
