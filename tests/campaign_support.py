"""Building campaigns for the sending tests."""
from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from re import Match
from typing import Any

from bench.fake_graph import Call, FakeGraph
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


class HeldSends:
    """Message sends to the fake after the first `free` are answered only once released: senders
    stay in flight at a point the test chose while it acts (stops a job, kills a worker)."""

    def __init__(self, fake: FakeGraph, free: int) -> None:
        self.free = free
        self._received = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._answer = next(handler for method, pattern, handler in fake.routes
                            if method == "POST" and pattern.fullmatch("/v21.0/1/messages"))
        fake.route("POST", r"/v[\d.]+/(?P<number>[^/]+)/messages", self._hold)

    def _hold(self, fake: FakeGraph, call: Call, match: Match[str]) -> tuple[int, Any]:
        with self._lock:
            self._received += 1
            held = self._received > self.free
        if held:
            # Bounded: a test failing before its release must not leave the server hanging.
            self._released.wait(timeout=60)
        return self._answer(fake, call, match)

    @property
    def held(self) -> int:
        """Sends received and not yet answered because of the hold."""
        with self._lock:
            return 0 if self._released.is_set() else max(0, self._received - self.free)

    def release(self) -> None:
        """Answer the held sends, and every later one at once."""
        self._released.set()


@contextmanager
def held_sends(fake: FakeGraph, free: int) -> Iterator[HeldSends]:
    """HeldSends on `fake`, released on the way out whatever happened."""
    hold = HeldSends(fake, free)
    try:
        yield hold
    finally:
        hold.release()
