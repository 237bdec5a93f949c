"""Live inbox events: published per organization after commit; a subscriber (and the SSE stream)
of organization B never receives organization A's events."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections
from django.test.utils import override_settings

from crm.inbox import events
from crm.models import Customer, Organization, Role
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import WhatsAppNumberFactory
from tests.test_admin_support import make_staff, signed_in


def collect(stream: Iterator[Any], until: Callable[[list[Any]], bool], quiet: int = 3) -> list:
    """Events of `stream` until `until(events)` holds and `quiet` heartbeats followed."""
    seen: list[Any] = []
    idle = 0
    for event in stream:
        if event is None:
            idle += 1
            if until(seen) and idle >= quiet:
                return seen
            continue
        idle = 0
        seen.append(event)
    return seen


def later(action: Callable[[], None]) -> None:
    """Run `action` shortly, from another thread, while the test reads a stream."""
    def run() -> None:
        try:
            action()
        finally:
            connections.close_all()  # the thread's own connections, or teardown waits on them
    threading.Timer(0.3, run).start()


def publish_as(org: Organization, kind: str, **data: Any) -> Callable[[], None]:
    def send() -> None:
        with tenant_context(org):
            events.publish(kind, **data)  # outside a transaction: sent at once
    return send


@pytest.mark.django_db(transaction=True)
def test_subscriber_of_b_never_receives_events_of_a(org_a: Organization,
                                                    org_b: Organization) -> None:
    stream = events.subscribe(org_b.pk)
    assert next(stream) is None  # subscribed, nothing yet

    def both() -> None:
        publish_as(org_a, events.MESSAGE, customers=["a-customer"])()
        publish_as(org_b, events.MESSAGE, customers=["b-customer"])()

    later(both)
    received = collect(stream, lambda seen: bool(seen))
    assert received == [{"type": "message", "customers": ["b-customer"]}]


def test_publish_waits_for_the_commit_and_needs_an_organization(
    org_a: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks, tenant_context(org_a):
        events.publish(events.STATUS, message_id="wamid.x", status="read")
    assert len(callbacks) == 1
    with pytest.raises(RuntimeError, match="organization"):
        events.publish(events.STATUS)


@pytest.mark.django_db(transaction=True)
def test_sse_stream_is_the_requests_organization_only(org_a: Organization,
                                                      org_b: Organization) -> None:
    client = signed_in(make_staff(org_b, Role.AGENT))
    response = client.get("/inbox/events/")
    assert response["Content-Type"] == "text/event-stream"
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"retry: 2000\n\n"
    later(publish_as(org_a, events.CONVERSATION, customer="of-a"))
    later(publish_as(org_b, events.CONVERSATION, customer="of-b"))
    lines = []
    for chunk in chunks:
        if chunk.startswith(b"data:"):
            lines.append(json.loads(chunk[5:]))
        elif lines:
            break
    response.close()
    assert lines == [{"type": "conversation", "customer": "of-b"}]


def test_sse_stream_needs_a_signed_in_user() -> None:
    from django.test import Client

    response = Client().get("/inbox/events/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db(transaction=True)
def test_webhook_announces_new_messages_and_statuses_to_their_organization_only(
    org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_a):
        WhatsAppNumberFactory(phone_number_id="106540352242922", display_number="15550001111")
    stream_a, stream_b = events.subscribe(org_a.pk), events.subscribe(org_b.pk)
    next(stream_a), next(stream_b)
    message = wp.text("919812345678", "Hello")

    def deliver() -> None:
        from django.test import Client

        payload = wp.delivery(wp.entry(wp.change("106540352242922", "15550001111",
                                                 messages=[message])))
        raw = wp.body(payload)
        with override_settings(WHATSAPP_APP_SECRET=wp.SECRET):
            answer = Client().post("/webhooks/whatsapp/", raw, content_type="application/json",
                                   headers={"X-Hub-Signature-256": wp.signature(raw)})
        assert answer.status_code == 200

    later(deliver)
    received = collect(stream_a, lambda seen: bool(seen))
    with tenant_context(org_a):
        customer = Customer.objects.get(wa_id="919812345678")
    assert received == [{"type": "message", "customers": [str(customer.pk)]}]
    assert customer.last_inbound_at is not None and customer.business_number == "15550001111"
    assert collect(stream_b, lambda seen: True, quiet=1) == []
