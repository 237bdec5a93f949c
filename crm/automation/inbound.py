"""What the rules look at: one inbound message with its customer, organization and number.

An Inbound lives for one automation run: the organization's rules are read once, when first
needed, and serve the decision and the arming and cancelling of delayed triggers (the inbound
message's and those of the replies the run sends)."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from crm.automation.hours import is_open
from crm.models import (
    AutomationRule,
    Customer,
    Message,
    Organization,
    ReferrerTracking,
    WhatsAppNumber,
)
from crm.webhooks.numbers import digits


def normalise(text: str) -> str:
    """Text compared without case, accents or repeated spaces ("Précio " ~ "precio")."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


@dataclass
class Inbound:
    """A customer's message as the triggers and conditions see it."""

    message: Message
    customer: Customer
    organization: Organization
    now: datetime

    @cached_property
    def every_rule(self) -> list[AutomationRule]:
        """The organization's rules, inactive ones too, in priority order (one query a run)."""
        # Filtered by the run's organization as well as scoped: the rules are never another's.
        return list(AutomationRule.objects.filter(organization_id=self.organization.pk)
                    .order_by("priority", "created_at", "id"))

    @cached_property
    def rules(self) -> list[AutomationRule]:
        """The organization's active rules, in priority order."""
        return [rule for rule in self.every_rule if rule.is_active]

    def of(self, message: Message, customer: Customer, now: datetime) -> Inbound:
        """Another message of this run's organization (a reply it sends) seen with the rules
        already read."""
        seen = Inbound(message, customer, self.organization, now)
        seen.every_rule = self.every_rule
        return seen

    def rules_of(self, kind: str, active: bool = True) -> list[AutomationRule]:
        """The rules (active ones only, unless `active` is False) whose trigger is of `kind`."""
        return [rule for rule in (self.rules if active else self.every_rule)
                if rule.trigger.get("type") == kind]

    @cached_property
    def text(self) -> str:
        """The message's text (a button's title too), normalised."""
        return normalise(self.message.body or "")

    @cached_property
    def reply_id(self) -> str | None:
        """The id of the button or list row the customer chose (a template button's payload)."""
        raw: Any = self.message.raw_message or {}
        interactive = raw.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        if reply.get("id"):
            return str(reply["id"])
        button = raw.get("button") or {}
        return str(button["payload"]) if button.get("payload") else None

    @cached_property
    def referral_source_id(self) -> str | None:
        """The ad's source_id ("" when Meta gave none) if the message came from a
        click-to-WhatsApp ad (the webhook stored its referral), else None."""
        if not self.message.message_id:
            return None
        row = (ReferrerTracking.objects.filter(message_id=self.message.message_id)
               .values_list("source_id", flat=True))
        return next((source_id or "" for source_id in row[:1]), None)

    @cached_property
    def number(self) -> WhatsAppNumber | None:
        """The organization's number the customer wrote to (or ours came from)."""
        ours = (self.message.to_wa_id if self.message.sender_type == "customer"
                else self.message.from_wa_id)
        written_to = digits(ours)
        for number in WhatsAppNumber.objects.only("id", "display_number", "phone_number_id"):
            if written_to and digits(number.display_number) == written_to:
                return number
        return None

    @cached_property
    def number_id(self) -> str | None:
        """The id of the organization's number the customer wrote to (or ours came from)."""
        return str(self.number.pk) if self.number is not None else None

    @cached_property
    def open_now(self) -> bool:
        """Whether the organization is within its business hours when the message came."""
        return is_open(self.organization, self.message.timestamp or self.now)
