"""Route a validated delivery: each change to its number's organization, in one transaction."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import router, transaction

from crm.models import Message
from crm.webhooks import account
from crm.webhooks.amend import apply_preferences
from crm.webhooks.numbers import Receiver, digits, find_receivers
from crm.webhooks.parsing import WHATSAPP_OBJECT
from crm.webhooks.payload import Change, Payload
from crm.webhooks.statuses import RANK, Outcome, apply_status
from crm.webhooks.store import store_messages
from crm.whatsapp.inbound import CHANNEL_FIELDS
from tenancy.context import tenant_context

logger = logging.getLogger("crm.webhooks")


@dataclass
class Report:
    """What a delivery stored and what it ignored (ids and reasons only, never content)."""

    messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    stale_statuses: int = 0
    preferences: int = 0
    ignored: list[dict[str, str]] = field(default_factory=list)

    def ignore(self, reason: str, **ids: str | None) -> None:
        """Acknowledge an item without storing it, and say so in the log."""
        item = {"reason": reason, **{key: value for key, value in ids.items() if value}}
        logger.warning(
            "WhatsApp webhook: ignored (%s)", ", ".join(f"{k}={v}" for k, v in item.items())
        )
        self.ignored.append(item)

    def as_json(self) -> dict[str, Any]:
        """The acknowledgement's body."""
        return {
            "stored": {
                "messages": self.messages,
                "duplicates": self.duplicates,
                "statuses": self.statuses,
                "stale_statuses": self.stale_statuses,
                "preferences": self.preferences,
            },
            "ignored": self.ignored,
        }


def _ingest_change(change: Change, receiver: Receiver, report: Report) -> None:
    """Store one change's messages, the Business app's echoes, statuses and preferences as its
    number's organization, atomically."""
    # Every kind is kept (crm.webhooks.content describes); an echo is the business's message.
    messages = [*change.messages, *change.echoes]
    statuses = []
    for status in change.statuses:
        if status.status not in RANK:
            report.ignore(
                "unknown status", status=status.status, message_id=status.wamid, at=change.where
            )
        else:
            statuses.append(status)
    if not messages and not statuses and not change.preferences:
        return
    to_wa_id = digits(change.display_phone_number) or receiver.display_digits
    with (
        tenant_context(receiver.organization_id),
        transaction.atomic(using=router.db_for_write(Message)),
    ):
        if messages:
            stored, duplicates = store_messages(messages, dict(change.names), to_wa_id)
            report.messages += stored
            report.duplicates += duplicates
        report.preferences += apply_preferences(change.preferences)
        for status in statuses:
            outcome = apply_status(status)
            if outcome is Outcome.APPLIED:
                report.statuses += 1
            elif outcome is Outcome.STALE:
                report.stale_statuses += 1
            else:
                report.ignore(
                    "status for an unknown message", status=status.status,
                    message_id=status.wamid, at=change.where,
                )


def ingest(payload: Payload) -> Report:
    """Store everything a validated delivery carries for organizations able to receive it."""
    report = Report()
    for where, problem in payload.problems:  # the delivery is kept raw: staff can read them
        report.ignore("item not understood", at=where, problem=problem)
    if payload.object != WHATSAPP_OBJECT:
        report.ignore("not a WhatsApp Business Account delivery", object=payload.object)
        return report
    receivers = find_receivers(
        change.phone_number_id for change in payload.changes if change.phone_number_id
    )
    for change in payload.changes:
        if change.field in account.HANDLERS:
            account.HANDLERS[change.field](change, report)
            continue
        if change.field not in CHANNEL_FIELDS:
            report.ignore("change field not handled", field=change.field, at=change.where)
            continue
        receiver = receivers.get(change.phone_number_id or "")
        if receiver is None or receiver.problem:
            report.ignore(
                receiver.problem if receiver else "unknown phone number",
                phone_number_id=change.phone_number_id, at=change.where,
            )
            continue
        _ingest_change(change, receiver, report)
    return report
