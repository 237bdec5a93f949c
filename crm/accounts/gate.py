"""Whether the active organization may send: suspended or unconfirmed organizations may not."""
from __future__ import annotations

from crm.models import Organization
from tenancy.context import get_current_organization_id


def why_not_sending() -> str | None:
    """What stops the active organization from sending, in words; None when it may send."""
    state = Organization.objects.filter(pk=get_current_organization_id()).values(
        "is_active", "email_confirmed").first()
    if state is None:
        return None
    if not state["is_active"]:
        return ("Your organization is suspended, so it sends nothing: contact the platform team "
                "to reactivate it.")
    if not state["email_confirmed"]:
        return ("Your organization cannot send until its ORG_ADMIN confirms their e-mail "
                "address: open the link in the confirmation e-mail, or ask for a new one on the "
                "onboarding page (/onboarding/).")
    return None
