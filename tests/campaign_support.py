"""Building campaigns for the sending tests."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from crm.models import Campaign, Customer, Organization, WhatsAppNumber
from tenancy.context import tenant_context
from tests.factories import (
    CampaignCustomerFactory,
    CampaignFactory,
    CampaignRecipientFactory,
    CustomerFactory,
    UserFactory,
    WhatsAppNumberFactory,
)

_phones = itertools.count()


@dataclass
class Scenario:
    """A campaign of one organization, its audience and its sending numbers."""

    organization: Organization
    campaign: Campaign
    customers: list[Customer]
    recipients: list[str]
    numbers: list[WhatsAppNumber]

    @property
    def wa_ids(self) -> set[str]:
        """Every WhatsApp id the campaign sends to."""
        return {c.wa_id for c in self.customers} | {
            "".join(filter(str.isdigit, phone)) for phone in self.recipients
        }


def scenario(org: Organization, *, customers: int = 3, recipients: int = 2, numbers: int = 1,
             rate: int = 80, **campaign: Any) -> Scenario:
    """A campaign in `org` with `customers` chosen customers and `recipients` uploaded numbers."""
    with tenant_context(org):
        admin = UserFactory(org_admin=True)
        chosen = CampaignFactory(created_by=admin, **campaign)
        people = CustomerFactory.create_batch(customers)
        for customer in people:
            CampaignCustomerFactory(campaign=chosen, customer=customer)
        # Uploaded as people type them; sent to their digits.
        uploaded = [CampaignRecipientFactory(campaign=chosen, phone_number=number).phone_number
                    for number in (f"+44 7700 {next(_phones):06d}" for _ in range(recipients))]
        senders = WhatsAppNumberFactory.create_batch(numbers, messages_per_second=rate)
    return Scenario(org, chosen, people, uploaded, senders)
