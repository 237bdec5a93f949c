"""What a customer's message changes beyond itself: an edit or deletion of an earlier message,
a new number or user id (the customer row follows), a marketing preference.

Runs inside tenant_context(organization) and the change's transaction (see store and ingest).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from crm.models import Customer, Message
from crm.webhooks.payload import InboundMessage, Preference
from crm.whatsapp.optout import opt_in, opt_out

logger = logging.getLogger("crm.webhooks")
NUMBER_CHANGES = ("user_changed_number", "customer_changed_number")
USER_ID_CHANGES = ("user_changed_user_id",)
STOP, RESUME = "stop", "resume"


def amend(messages: Sequence[InboundMessage]) -> int:
    """Apply the edits and deletions among these newly stored messages; how many applied.

    Only the author's own message changes (the customer's, or the business's for an echo). An
    edit keeps the earlier body in edit_history; a deletion marks the message, its text kept.
    Each message's own row was stored once (by wamid), so a redelivery applies nothing twice.
    """
    applied = 0
    for message in messages:
        change = message.amendment
        if change is None:
            continue
        mine = (Q(sender_type="customer", from_wa_id=message.from_wa_id) if message.to is None
                else ~Q(sender_type="customer"))
        originals = Message.objects.filter(mine, message_id=change.original_wamid,
                                           customer__wa_id=message.customer_key)
        if message.type == "revoke":
            applied += originals.filter(deleted_at=None).update(deleted_at=message.timestamp)
            continue
        for original in originals.select_for_update().only("id", "body", "edit_history"):
            history = [*(original.edit_history or []), {
                "body": original.body, "replaced_at": message.timestamp.isoformat(),
                "by": message.wamid}]
            Message.objects.filter(pk=original.pk).update(
                body=change.body, edited_at=message.timestamp, edit_history=history)
            applied += 1
    return applied


def _move(customer: Customer, new_key: str | None) -> bool:
    """Key the customer by `new_key` (their history stays theirs), unless another has it."""
    if not new_key or new_key == customer.wa_id:
        return False
    if Customer.objects.filter(wa_id=new_key).exists():
        logger.warning("WhatsApp webhook: customer %s changed number, but the new one is "
                       "already another customer's: kept apart", customer.pk)
        return False
    return bool(Customer.objects.filter(pk=customer.pk).update(wa_id=new_key))


def _preference(customer_ids: list, value: str | None, at: datetime) -> None:
    if value == STOP:
        opt_out(customer_ids, at)
    elif value == RESUME:
        opt_in(customer_ids)


def follow_system_changes(messages: Sequence[InboundMessage],
                          customers: Mapping[str, Customer]) -> None:
    """A new number or user id moves the customer row; a preference sets the opt-out."""
    for message in sorted(messages, key=lambda m: m.timestamp):
        system = message.system
        if system is None or message.to is not None or message.group_id:
            continue
        customer = customers[message.customer_key]
        if system.kind in NUMBER_CHANGES:
            _move(customer, system.new_wa_id)
        elif system.kind in USER_ID_CHANGES and not message.raw.get("from"):
            _move(customer, system.new_user_id)  # keyed by the user id only when no number
        elif system.marketing:
            _preference([customer.pk], system.marketing.lower(), message.timestamp)


def apply_preferences(preferences: Sequence[Preference]) -> int:
    """`user_preferences`: each customer's marketing opt-out set or cleared; how many applied.

    A customer not known yet is created, so the opt-out holds for the first campaign too.
    """
    wanted = [p for p in preferences if p.category in (None, "marketing_messages")
              and (p.value or "").lower() in (STOP, RESUME)]
    if not wanted:
        return 0
    now = timezone.now()
    keys = sorted({p.customer_key for p in wanted})
    Customer.objects.bulk_create([Customer(wa_id=key, created_at=now) for key in keys],
                                 ignore_conflicts=True)
    ids = dict(Customer.objects.filter(wa_id__in=keys).order_by().values_list("wa_id", "id"))
    for preference in sorted(wanted, key=lambda p: p.timestamp or now):
        _preference([ids[preference.customer_key]], (preference.value or "").lower(),
                    preference.timestamp or now)
    return len(wanted)
