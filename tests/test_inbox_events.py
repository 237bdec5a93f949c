"""Live inbox events: published per organization after commit; a subscriber (and the SSE stream)
of organization B never receives organization A's events; streams are capped per user, per
organization and per process, and a stream is subscribed before its first byte is sent."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from crm.inbox import events
from crm.models import Customer, Organization, Role
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import WhatsAppNumberFactory
from tests.test_admin_support import make_staff, signed_in


def collect(stream: Iterable[Any], until: Callable[[list[Any]], bool], quiet: int = 3) -> list:
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


def publish_as(org: Organization, kind: str, **data: Any) -> None:
    """Publish at once (outside a transaction) as `org`."""
    with tenant_context(org):
        events.publish(kind, **data)


def data_events(chunks: Iterator[bytes], count: int) -> list[Any]:
    """The next `count` `data:` events of an SSE body (keep-alives skipped)."""
    found: list[Any] = []
    for chunk in chunks:
        if chunk.startswith(b"data:"):
            found.append(json.loads(chunk[5:]))
            if len(found) == count:
                break
    return found


@pytest.mark.django_db(transaction=True)
def test_subscriber_of_b_never_receives_events_of_a(org_a: Organization,
                                                    org_b: Organization) -> None:
    stream = events.subscribe(org_b.pk, "tester")
    try:
        # Subscribed once subscribe() returns: an event published right away arrives.
        publish_as(org_a, events.MESSAGE, customers=["a-customer"])
        publish_as(org_b, events.MESSAGE, customers=["b-customer"])
        received = collect(stream, lambda seen: bool(seen))
    finally:
        stream.close()
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
    # Published the moment the client has its first bytes: the stream was subscribed before.
    publish_as(org_a, events.CONVERSATION, customer="of-a")
    publish_as(org_b, events.CONVERSATION, customer="of-b")
    publish_as(org_b, events.CONVERSATION, customer="of-b-again")
    lines = data_events(chunks, 2)
    response.close()
    assert lines == [{"type": "conversation", "customer": "of-b"},
                     {"type": "conversation", "customer": "of-b-again"}]


def test_sse_stream_needs_a_signed_in_user() -> None:
    response = Client().get("/inbox/events/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db(transaction=True)
def test_webhook_announces_new_messages_and_statuses_to_their_organization_only(
    org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_a):
        WhatsAppNumberFactory(phone_number_id="106540352242922", display_number="15550001111")
    stream_a, stream_b = events.subscribe(org_a.pk, "a"), events.subscribe(org_b.pk, "b")
    message = wp.text("919812345678", "Hello")
    raw = wp.body(wp.delivery(wp.entry(wp.change("106540352242922", "15550001111",
                                                 messages=[message]))))
    try:
        with override_settings(WHATSAPP_APP_SECRET=wp.SECRET):
            answer = Client().post("/webhooks/whatsapp/", raw, content_type="application/json",
                                   headers={"X-Hub-Signature-256": wp.signature(raw)})
        assert answer.status_code == 200
        received = collect(stream_a, lambda seen: bool(seen))
        received_b = collect(stream_b, lambda seen: True, quiet=1)
    finally:
        stream_a.close()
        stream_b.close()
    with tenant_context(org_a):
        customer = Customer.objects.get(wa_id="919812345678")
    assert received == [{"type": "message", "customers": [str(customer.pk)]}]
    assert customer.last_inbound_at is not None and customer.business_number == "15550001111"
    assert received_b == []


def _open(client: Client, url: str = "/inbox/events/") -> Any:
    return client.get(url, HTTP_ACCEPT="text/event-stream")


def _refused(response: Any, why: str) -> bool:
    return (response.status_code == 429 and int(response["Retry-After"]) > 0
            and why in response.content.decode())


@pytest.mark.django_db(transaction=True)
def test_one_user_cannot_hold_more_streams_than_the_cap(
    org_a: Organization, org_b: Organization, settings: Any
) -> None:
    settings.INBOX_STREAMS_PER_USER = 2
    client = signed_in(make_staff(org_a, Role.AGENT))
    held = [_open(client) for _ in range(2)]
    assert [r.status_code for r in held] == [200, 200]
    refused = _open(client)
    assert _refused(refused, "for your account: close another inbox tab")
    # The API's stream is the same user's and shares the cap.
    assert _open(client, "/api/v1/conversations/events/").status_code == 429
    # Everyone else is served: another organization's agent streams, pages answer.
    other = _open(signed_in(make_staff(org_b, Role.AGENT)))
    assert other.status_code == 200
    assert client.get("/inbox/").status_code == 200
    # A closed stream frees its slot at once.
    held[0].close()
    again = _open(client)
    assert again.status_code == 200
    for response in (held[1], other, again):
        response.close()


@pytest.mark.django_db(transaction=True)
def test_one_organization_cannot_hold_more_streams_than_its_cap(
    org_a: Organization, org_b: Organization, settings: Any
) -> None:
    settings.INBOX_STREAMS_PER_ORGANIZATION = 2
    agents = [signed_in(make_staff(org_a, Role.AGENT)) for _ in range(3)]
    held = [_open(agents[0]), _open(agents[1])]
    assert [r.status_code for r in held] == [200, 200]
    assert _refused(_open(agents[2]), "for your organization")
    other = _open(signed_in(make_staff(org_b, Role.AGENT)))
    assert other.status_code == 200
    for response in (*held, other):
        response.close()
    fresh = _open(agents[2])
    assert fresh.status_code == 200
    fresh.close()


@pytest.mark.django_db(transaction=True)
def test_a_process_keeps_threads_for_pages(
    org_a: Organization, org_b: Organization, settings: Any
) -> None:
    settings.INBOX_STREAMS_PER_PROCESS = 1
    client_a, client_b = (signed_in(make_staff(org, Role.AGENT)) for org in (org_a, org_b))
    held = _open(client_a)
    assert held.status_code == 200
    assert _refused(_open(client_b), "This server holds as many live streams")
    assert client_b.get("/inbox/").status_code == 200
    held.close()
    fresh = _open(client_b)
    assert fresh.status_code == 200
    fresh.close()


@pytest.mark.django_db(transaction=True)
def test_a_stream_never_opened_is_freed_when_its_response_closes(
    org_a: Organization, settings: Any
) -> None:
    settings.INBOX_STREAMS_PER_USER = 1
    client = signed_in(make_staff(org_a, Role.AGENT))
    unread = _open(client)
    assert unread.status_code == 200
    unread.close()  # the server closes it when the client left before the first byte
    reopened = _open(client)
    assert reopened.status_code == 200
    reopened.close()


@pytest.mark.django_db(transaction=True)
def test_redis_unreachable_answers_503_and_holds_nothing(
    org_a: Organization, settings: Any
) -> None:
    settings.INBOX_REDIS_URL = "redis://127.0.0.1:9/0"
    settings.INBOX_STREAMS_PER_PROCESS = 1
    client = signed_in(make_staff(org_a, Role.AGENT))
    for _ in range(2):  # the failed attempt kept no process slot
        refused = _open(client)
        assert refused.status_code == 503 and "unavailable" in refused.content.decode()
