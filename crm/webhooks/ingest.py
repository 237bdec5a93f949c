"""Route validated deliveries: each change to its number's organization, a batch's changes for
one number stored together in one transaction."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
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


@dataclass
class _Group:
    """The changes of a batch that one organization's number received, stored together."""

    receiver: Receiver
    to_wa_id: str | None
    changes: list[tuple[Report, Change]] = field(default_factory=list)


def _store_group(group: _Group) -> None:
    """Store a group's messages, the Business app's echoes, statuses and preferences as its
    number's organization, atomically: the messages of every change in one set of statements,
    then each change's statuses and preferences in order."""
    with (
        tenant_context(group.receiver.organization_id),
        transaction.atomic(using=router.db_for_write(Message)),
    ):
        # Every kind is kept (crm.webhooks.content describes); an echo is the business's message.
        messages = [m for _, change in group.changes for m in (*change.messages, *change.echoes)]
        names = {wa_id: name for _, change in group.changes for wa_id, name in change.names}
        stored = store_messages(messages, names, group.to_wa_id) if messages else set()
        for report, change in group.changes:
            for message in (*change.messages, *change.echoes):
                if message.wamid in stored:
                    stored.discard(message.wamid)  # a second copy of it is a duplicate
                    report.messages += 1
                else:
                    report.duplicates += 1
        for report, change in group.changes:
            report.preferences += apply_preferences(change.preferences)
            _apply_statuses(change, report)


def _apply_statuses(change: Change, report: Report) -> None:
    for status in change.statuses:
        if status.status not in RANK:
            report.ignore(
                "unknown status", status=status.status, message_id=status.wamid, at=change.where
            )
            continue
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


def _route(payload: Payload, report: Report, receivers: dict[str, Receiver],
           groups: dict[tuple[uuid.UUID | None, str | None], _Group]) -> None:
    """Handle a delivery's account changes now; add its channel changes to their number's
    group; say in the report what is ignored."""
    for where, problem in payload.problems:  # the delivery is kept raw: staff can read them
        report.ignore("item not understood", at=where, problem=problem)
    if payload.object != WHATSAPP_OBJECT:
        report.ignore("not a WhatsApp Business Account delivery", object=payload.object)
        return
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
        if not (change.messages or change.echoes or change.statuses or change.preferences):
            continue
        to_wa_id = digits(change.display_phone_number) or receiver.display_digits
        group = groups.setdefault((receiver.organization_id, to_wa_id), _Group(receiver, to_wa_id))
        group.changes.append((report, change))


def ingest(payloads: Sequence[Payload]) -> list[Report]:
    """Store everything validated deliveries carry for organizations able to receive it, a
    report per delivery.

    A batch of deliveries is stored per receiving number in one set of statements (the
    roll-up triggers then run once per batch, not once per message), in received order.
    """
    reports = [Report() for _ in payloads]
    receivers = find_receivers(
        change.phone_number_id for payload in payloads for change in payload.changes
        if change.phone_number_id and payload.object == WHATSAPP_OBJECT
    )
    groups: dict[tuple[uuid.UUID | None, str | None], _Group] = {}
    for payload, report in zip(payloads, reports):
        _route(payload, report, receivers, groups)
    for group in groups.values():
        _store_group(group)
    return reports
