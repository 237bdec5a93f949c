"""Reads of the account lifecycle: the onboarding checklist, the team, platform usage."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Q

from crm.models import (
    Customer,
    Invitation,
    Message,
    Organization,
    User,
    Verification,
    WhatsAppNumber,
)
from crm.whatsapp.send import AGENT
from tenancy.context import unscoped


@dataclass(frozen=True)
class Step:
    """One item of the onboarding checklist."""

    title: str
    done: bool
    how: str
    link: str


def checklist(organization: Organization) -> list[Step]:
    """The active organization's first steps, each ticked off by what it has done."""
    number = WhatsAppNumber.objects.filter(
        is_active=True, verification_status=Verification.VERIFIED).exists()
    team = (Invitation.objects.exists() or User.objects.filter(is_active=True).count() > 1)
    sent = Message.objects.filter(sender_type=AGENT).exists()
    return [
        Step("Confirm your e-mail address", organization.email_confirmed,
             "Open the link we e-mailed you; nothing is sent until then.", ""),
        Step("Connect a WhatsApp number", number,
             "Connect it through Meta's Embedded Signup.", "/whatsapp/connect/"),
        Step("Invite your team", team, "Invite agents by e-mail.", "/team/"),
        Step("Send a first message", sent, "Answer a customer from the inbox.", "/inbox/"),
    ]


def team() -> tuple[list[User], list[Invitation]]:
    """The active organization's users and its invitations, newest first."""
    users = list(User.objects.select_related("role").order_by("username"))
    invitations = list(Invitation.objects.select_related("role").order_by("-created_at")[:100])
    return users, invitations


def numbers() -> list[WhatsAppNumber]:
    """The active organization's WhatsApp numbers, with the health Meta last reported."""
    return list(WhatsAppNumber.objects.order_by("display_number", "phone_number_id"))


def organizations_with_usage() -> list[dict[str, Any]]:
    """Every organization with its users, customers, numbers and messages (platform staff)."""
    # The platform's list of tenants: it counts across every organization by design.
    with unscoped():
        return _usage()


def _usage() -> list[dict[str, Any]]:
    organizations = Organization.objects.order_by("name").values(
        "id", "name", "code", "is_active", "email_confirmed", "created_at")
    counts: dict[Any, dict[str, Any]] = {row["id"]: {**row} for row in organizations}
    for model, name in ((User, "users"), (Customer, "customers"),
                        (WhatsAppNumber, "numbers")):
        for row in model.objects.values("organization_id").annotate(n=Count("pk")).order_by():
            if row["organization_id"] in counts:
                counts[row["organization_id"]][name] = row["n"]
    for row in Message.objects.values("organization_id").annotate(
            n=Count("pk"), sent=Count("pk", filter=Q(sender_type=AGENT)),
            last=Max("timestamp")).order_by():
        if row["organization_id"] in counts:
            counts[row["organization_id"]].update(
                messages=row["n"], sent=row["sent"], last_message_at=row["last"])
    return [{"users": 0, "customers": 0, "numbers": 0, "messages": 0, "sent": 0,
             "last_message_at": None, **row} for row in counts.values()]
