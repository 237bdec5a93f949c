"""Helpers for the inbox tests: conversations with their denormalised columns set as the webhook
store and the inbox services set them. (No tests here.)"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm.models import Customer, Message, Organization
from tenancy.context import tenant_context
from tests.factories import CustomerFactory, MessageFactory

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def conversation(
    org: Organization, name: str, *, inbound: int = 1, outbound: int = 0, at: datetime = T0,
    business_number: str = "918000000000", **fields: Any,
) -> Customer:
    """A customer of `org` whose `inbound` messages (a minute apart) come first, then replies."""
    with tenant_context(org):
        customer = CustomerFactory(name=name, business_number=business_number, **fields)
        stamps = [at + timedelta(minutes=i) for i in range(inbound + outbound)]
        for i, stamp in enumerate(stamps):
            mine = i >= inbound
            MessageFactory(
                customer=customer, timestamp=stamp,
                body=f"{name} {'reply' if mine else 'says'} {i}",
                sender_type="agent" if mine else "customer",
                delivery_status="sent" if mine else None,
            )
        last_in = stamps[inbound - 1] if inbound else None
        Customer.objects.filter(pk=customer.pk).update(
            last_message_at=stamps[-1] if stamps else None, last_inbound_at=last_in
        )
        customer.refresh_from_db()
        return customer


def message_count(org: Organization, customer: Customer) -> int:
    """Messages of the customer, read as `org`."""
    with tenant_context(org):
        return Message.objects.filter(customer=customer).count()
