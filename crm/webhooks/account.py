"""The webhook's account fields: template reviews, number quality and account events, at once.

Meta sends them per WhatsApp Business Account (the entry's `id`), not per number: each goes to
the organizations whose verified, active numbers belong to that account (normally one), and is
applied there in its own transaction. One function per field (HANDLERS); a value not understood
is acknowledged and named in the report, never refused (Meta would retry it for days).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from crm.models import Template, Verification, WhatsAppNumber
from crm.webhooks.numbers import digits
from crm.webhooks.payload import Change
from tenancy.context import get_current_organization_id, tenant_context, unscoped

TEMPLATE_EVENTS = frozenset({"APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED",
                             "FLAGGED", "REINSTATED", "PENDING_DELETION", "DELETED",
                             "IN_APPEAL", "LIMIT_EXCEEDED", "ARCHIVED"})
# A quality event that says the rating itself; others (UPGRADE, DOWNGRADE) move only the tier.
QUALITY_BY_EVENT = {"FLAGGED": "RED", "UNFLAGGED": "GREEN"}
# Account events that lift a ban or restriction; any other event with ban, restriction or
# violation details is stored as the account's restriction.
CLEARING_EVENTS = frozenset({"ACCOUNT_RESTRICTION_REMOVED", "UNBANNED", "REINSTATED"})


class Reporter(Protocol):
    """The delivery's report (crm.webhooks.ingest.Report): what was not applied, and why."""

    def ignore(self, reason: str, **ids: str | None) -> None: ...


def _text(value: Any, length: int) -> str | None:
    """A string or number of Meta's value as text, cut to the column; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value)[:length] or None


def _organizations(account_id: str | None) -> list[UUID]:
    """The active organizations receiving this WhatsApp Business Account (verified numbers)."""
    if not account_id:
        return []
    # Meta names the account, not the organization: find it among every organization's
    # verified numbers (the webhook has no organization until then), as find_receivers does.
    with unscoped():
        return list(WhatsAppNumber.objects.filter(
            whatsapp_business_account_id=account_id, verification_status=Verification.VERIFIED,
            is_active=True, organization__is_active=True,
        ).order_by().values_list("organization_id", flat=True).distinct())


def _each_organization(change: Change, report: Reporter, apply: Callable[[dict[str, Any]], int]
                       ) -> None:
    """Run `apply(value)` as each organization of the change's account; report what is left."""
    value = change.value if isinstance(change.value, dict) else None
    if value is None:
        report.ignore("account update without a value", field=change.field, at=change.where)
        return
    organizations = _organizations(change.account_id)
    if not organizations:
        report.ignore("unknown WhatsApp Business Account", field=change.field,
                      account_id=change.account_id, at=change.where)
    for organization_id in organizations:
        with tenant_context(organization_id), transaction.atomic():
            if not apply(value):
                report.ignore("nothing of this account matched", field=change.field,
                              account_id=change.account_id, at=change.where)


def template_status(change: Change, report: Reporter) -> None:
    """`message_template_status_update`: the template's new status, without a sync."""
    def apply(value: dict[str, Any]) -> int:
        event = _text(value.get("event"), 50)
        if event not in TEMPLATE_EVENTS:
            return 0
        rows = Template.objects.filter(  # the organization's own rows, never the shared ones
            organization_id=get_current_organization_id(),
            whatsapp_business_account_id=change.account_id)
        template_id = _text(value.get("message_template_id"), 255)
        name = _text(value.get("message_template_name"), 255)
        language = _text(value.get("message_template_language"), 255)
        if template_id:
            rows = rows.filter(facebook_template_id=template_id)
        elif name and language:
            rows = rows.filter(template_name=name, language=language)
        else:
            return 0
        return rows.update(status=event, updated_at=timezone.now())
    _each_organization(change, report, apply)


def number_quality(change: Change, report: Reporter) -> None:
    """`phone_number_quality_update`: the number's quality rating and messaging limit tier."""
    def apply(value: dict[str, Any]) -> int:
        wanted = digits(_text(value.get("display_phone_number"), 50))
        event = _text(value.get("event"), 50)
        quality = (_text(value.get("quality_rating"), 20)
                   or QUALITY_BY_EVENT.get(event or ""))
        tier = _text(value.get("current_limit") or value.get("messaging_limit_tier"), 50)
        numbers = [n for n in WhatsAppNumber.objects.filter(
            whatsapp_business_account_id=change.account_id) if digits(n.display_number) == wanted]
        changes: dict[str, Any] = {"account_updated_at": timezone.now()}
        if quality:
            changes["quality_rating"] = quality
        if tier:
            changes["messaging_limit_tier"] = tier
        return WhatsAppNumber.objects.filter(pk__in=[n.pk for n in numbers]).update(**changes)
    _each_organization(change, report, apply)


def _restriction(value: dict[str, Any], event: str | None) -> str | None:
    """The account's ban or restriction in words, from Meta's ban, violation or restriction info."""
    parts = [event or "account update"]
    ban = value.get("ban_info") if isinstance(value.get("ban_info"), dict) else {}
    if ban:
        parts.append(f"ban {_text(ban.get('waba_ban_state'), 50) or 'set'}"
                     + (f" on {_text(ban.get('waba_ban_date'), 30)}"
                        if ban.get("waba_ban_date") else ""))
    violation = value.get("violation_info")
    if isinstance(violation, dict) and violation.get("violation_type"):
        parts.append(f"violation {_text(violation.get('violation_type'), 80)}")
    restrictions = value.get("restriction_info")
    for item in restrictions if isinstance(restrictions, list) else []:
        if isinstance(item, dict) and item.get("restriction_type"):
            until = _text(item.get("expiration"), 40)
            parts.append(f"{_text(item.get('restriction_type'), 80)}"
                         + (f" until {until}" if until else ""))
    return ", ".join(parts)[:255] if len(parts) > 1 else None


def account_update(change: Change, report: Reporter) -> None:
    """`account_update`: a ban, restriction or violation (or its end), on the account's numbers."""
    def apply(value: dict[str, Any]) -> int:
        event = _text(value.get("event"), 80)
        restriction = _restriction(value, event)
        if restriction is None and event not in CLEARING_EVENTS:
            return 1  # an event without a ban or restriction (verification...): nothing to show
        return WhatsAppNumber.objects.filter(
            whatsapp_business_account_id=change.account_id,
        ).update(account_restriction=restriction, account_updated_at=timezone.now())
    _each_organization(change, report, apply)


HANDLERS: dict[str, Callable[[Change, Reporter], None]] = {
    "message_template_status_update": template_status,
    "phone_number_quality_update": number_quality,
    "account_update": account_update,
}
