"""Outgoing webhooks: signed deliveries to the fake receiver, retries and back-off, subscriptions
turned off after failures, SSRF refusals (at subscription and at send time), the events where they
happen, the API and admin (ORG_ADMIN; another organization's id is 404), secrets never shown."""
from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, transaction

from bench.fake_subscriber import FakeSubscriber
from bench.fake_subscriber import verify as receiver_verify
from crm.automation.flows import create_lead
from crm.inbox.services import assign
from crm.models import Role, WebhookDelivery, WebhookSubscription
from crm.orders.services import set_status
from crm.outgoing import addresses, client, emit, services
from crm.outgoing.errors import UnsafeAddress
from crm.outgoing.signing import signature, verify
from crm.webhooks.payload import Content, InboundMessage, StatusUpdate
from crm.webhooks.statuses import apply_status
from crm.webhooks.store import store_messages
from tenancy.context import tenant_context, unscoped
from tests.factories import (
    CustomerFactory,
    MessageFactory,
    OrderFactory,
    UserFactory,
    WebhookDeliveryFactory,
    WebhookSubscriptionFactory,
)
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for

PUBLIC = "93.184.216.34"
DNS: dict[str, list[str]] = {}


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Fake DNS: every host is public unless a test says what it resolves to."""
    DNS.clear()
    monkeypatch.setattr(addresses, "resolve", lambda host, port: DNS.get(host, [PUBLIC]))
    yield DNS


@pytest.fixture
def fake() -> Iterator[FakeSubscriber]:
    """The fake receiver, reached through an httpx transport (no socket)."""
    receiver = FakeSubscriber()
    with client.use_transport(receiver.transport()):
        yield receiver


def _subscribe(org: Any, fake: FakeSubscriber | None = None, **kwargs: Any
               ) -> WebhookSubscription:
    with tenant_context(org):
        subscription, secret = services.create_subscription(
            kwargs.pop("url", "https://hooks.example.com/in"),
            kwargs.pop("events", ["lead.created"]), **kwargs)
    if fake is not None:
        fake.secret = secret
    return subscription


def _emit(org: Any, django_capture_on_commit_callbacks: Any, event: str = "lead.created",
          data: dict[str, Any] | None = None) -> None:
    """Emit in a transaction of `org` and run what it queued on commit (tasks run eagerly)."""
    with django_capture_on_commit_callbacks(execute=True):
        with tenant_context(org), transaction.atomic():
            emit(event, data or {"lead": {"first_name": "Asha"}})


def _attempts(org: Any) -> list[WebhookDelivery]:
    with tenant_context(org):
        return list(WebhookDelivery.objects.order_by("attempt"))


# -- signing ---------------------------------------------------------------------------------


def test_a_signature_verifies_only_with_the_secret_the_body_and_a_recent_time() -> None:
    body, now = b'{"id": "1"}', int(time.time())
    header = signature("whsec_a", now, body)
    assert header.startswith(f"t={now},v1=")
    for check in (verify, lambda *a, now: receiver_verify(*a, now)):
        assert check("whsec_a", header, body, now=now + 10)
        assert not check("whsec_b", header, body, now=now)  # another secret
        assert not check("whsec_a", header, body + b" ", now=now)  # another body
        assert not check("whsec_a", header, body, now=now + 301)  # replayed later
        assert not check("whsec_a", "t=x,v1=y", body, now=now)
        assert not check("whsec_a", None, body, now=now)


# -- the secret at rest ------------------------------------------------------------------------


def _stored_secret(org: Any, subscription: WebhookSubscription) -> str:
    """The secret column as the database holds it."""
    with tenant_context(org), connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhook_subscriptions WHERE id = %s",
                       [subscription.pk])
        return cursor.fetchone()[0]


def test_the_secret_is_encrypted_at_rest_and_still_signs(
    org_a, fake, eager, django_capture_on_commit_callbacks
) -> None:
    subscription = _subscribe(org_a, fake)
    stored = _stored_secret(org_a, subscription)
    assert fake.secret.startswith("whsec_") and fake.secret not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token
    _emit(org_a, django_capture_on_commit_callbacks)
    assert fake.received[0].verified  # checked with the original secret


def test_a_second_key_still_decrypts_and_rotation_moves_the_secret_to_it(
    settings, org_a, fake, eager, django_capture_on_commit_callbacks
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old]
    subscription = _subscribe(org_a, fake)
    settings.FIELD_ENCRYPTION_KEY = [new, old]  # a new first key: the old one still reads
    _emit(org_a, django_capture_on_commit_callbacks)
    call_command("rotate_integration_keys", stdout=open(os.devnull, "w"))
    settings.FIELD_ENCRYPTION_KEY = [new]  # the old key gone: the rotated secret still reads
    _emit(org_a, django_capture_on_commit_callbacks)
    assert [r.verified for r in fake.received] == [True, True]
    assert fake.secret not in _stored_secret(org_a, subscription)
    settings.FIELD_ENCRYPTION_KEY = [old]  # no key opens it: not sent, the reason says why
    _emit(org_a, django_capture_on_commit_callbacks)
    assert len(fake.received) == 2
    assert "FIELD_ENCRYPTION_KEY" in _attempts(org_a)[-1].error


def test_the_migration_encrypts_plaintext_secrets_in_batches(org_a, org_b, monkeypatch) -> None:
    """crm.0037's data step on rows written before it (plain text): encrypted once, reversible."""
    migration = importlib.import_module("crm.migrations.0037_catalog_per_organization")
    monkeypatch.setattr(migration, "BATCH_SIZE", 2)  # several keyset batches
    plain = {}
    for org in (org_a, org_b, org_a):
        subscription = _subscribe(org)
        plain[subscription.pk] = f"whsec_legacy_{len(plain)}"
        with tenant_context(org), connection.cursor() as cursor:
            cursor.execute("UPDATE webhook_subscriptions SET secret = %s WHERE id = %s",
                           [plain[subscription.pk], subscription.pk])
    editor = SimpleNamespace(connection=connection)
    with unscoped():  # the migration runs as the owner, which the policies do not restrict
        migration.encrypt_secrets(None, editor)
        migration.encrypt_secrets(None, editor)  # a re-run encrypts nothing twice
        rows = list(WebhookSubscription.objects.all())
        assert {row.pk: row.signing_secret() for row in rows} == plain
        assert not any(row.secret in plain.values() for row in rows)
        migration.decrypt_secrets(None, editor)
        assert {row.pk: row.secret for row in WebhookSubscription.objects.all()} == plain


# -- delivery --------------------------------------------------------------------------------


def test_an_event_is_delivered_signed_and_logged_with_its_answer(
    org_a, fake, eager, django_capture_on_commit_callbacks
) -> None:
    subscription = _subscribe(org_a, fake)
    _emit(org_a, django_capture_on_commit_callbacks)
    [received] = fake.received
    assert received.verified and received.status == 200
    assert received.headers["x-wbcrm-event"] == "lead.created"
    assert received.headers["host"] == "hooks.example.com"  # pinned address, the URL's host
    body = received.json
    assert body["event"] == "lead.created" and body["organization"] == str(org_a.pk)
    assert body["data"] == {"lead": {"first_name": "Asha"}}
    [attempt] = _attempts(org_a)
    assert (attempt.state, attempt.status_code, attempt.answer) == (
        "succeeded", 200, '{"ok": true}')
    assert attempt.subscription_id == subscription.pk and str(attempt.event_id) == body["id"]


def test_a_subscription_gets_only_its_events_and_only_its_organization_s(
    org_a, org_b, fake, eager, django_capture_on_commit_callbacks
) -> None:
    _subscribe(org_a, fake, url="https://a.example.com/x", events=["message.status"])
    theirs = _subscribe(org_b, url="https://b.example.com/x",
                        events=["lead.created", "message.status"])
    _emit(org_a, django_capture_on_commit_callbacks, "lead.created")  # A does not want it
    _emit(org_a, django_capture_on_commit_callbacks, "message.status", {"wamid": "w"})
    assert [(r.headers["host"], r.headers["x-wbcrm-event"]) for r in fake.received] == [
        ("a.example.com", "message.status")]
    with tenant_context(org_b):
        assert not WebhookDelivery.objects.filter(subscription=theirs).exists()


def test_failures_are_retried_with_growing_waits_until_one_succeeds(
    org_a, fake, eager, django_capture_on_commit_callbacks, settings
) -> None:
    settings.OUTGOING_WEBHOOKS_BACKOFF = 10.0
    _subscribe(org_a, fake)
    fake.fail(500, times=2)
    _emit(org_a, django_capture_on_commit_callbacks)
    attempts = _attempts(org_a)
    assert [(a.attempt, a.state, a.status_code) for a in attempts] == [
        (1, "failed", 500), (2, "failed", 500), (3, "succeeded", 200)]
    assert "Answered 500" in attempts[0].error and attempts[0].answer == '{"error": "told to fail"}'
    assert len({a.event_id for a in attempts}) == 1
    assert [r.headers["x-wbcrm-attempt"] for r in fake.received] == ["1", "2", "3"]
    # From the failure's own clock reading (the failed row's updated_at): no time of the test's.
    waits = [(retry.next_try_at - failed.updated_at).total_seconds()
             for failed, retry in zip(attempts, attempts[1:])]
    assert 8 <= waits[0] <= 10 and 16 <= waits[1] <= 20  # doubling, with jitter
    with tenant_context(org_a):
        assert WebhookSubscription.objects.get().consecutive_failures == 0


def test_back_off_doubles_up_to_its_cap(settings) -> None:
    settings.OUTGOING_WEBHOOKS_BACKOFF, settings.OUTGOING_WEBHOOKS_MAX_WAIT = 30.0, 100.0
    assert 24 <= services.backoff(1) <= 30 and 48 <= services.backoff(2) <= 60
    assert 80 <= services.backoff(9) <= 100


def test_an_answer_is_kept_storable_and_short(org_a, fake, settings) -> None:
    settings.OUTGOING_WEBHOOKS_MAX_ATTEMPTS = 1
    body = b"a\x00b" + b"x" * 10_000

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=body)

    with tenant_context(org_a), client.use_transport(httpx.MockTransport(answer)):
        delivery = WebhookDeliveryFactory()
        services.attempt(delivery.pk)
        delivery.refresh_from_db()
    assert delivery.answer.startswith("a\ufffdbxx") and len(delivery.answer) == 2000


def test_no_answer_is_a_failure_tried_again_later(org_a) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    with tenant_context(org_a), client.use_transport(httpx.MockTransport(refuse)):
        delivery = WebhookDeliveryFactory()
        retry = services.attempt(delivery.pk)
        delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.error.startswith("No answer: ConnectError")
    assert retry is not None and (retry.attempt, retry.state) == (2, "pending")
    assert retry.event_id == delivery.event_id and retry.next_try_at is not None


def test_attempts_stop_at_the_maximum(org_a, fake, eager, django_capture_on_commit_callbacks,
                                      settings) -> None:
    settings.OUTGOING_WEBHOOKS_MAX_ATTEMPTS = 3
    _subscribe(org_a, fake)
    fake.fail(503, times=10)
    _emit(org_a, django_capture_on_commit_callbacks)
    assert [(a.attempt, a.state) for a in _attempts(org_a)] == [
        (1, "failed"), (2, "failed"), (3, "failed")]
    assert len(fake.received) == 3


def test_repeated_failures_turn_the_subscription_off_with_the_reason(
    org_a, fake, eager, django_capture_on_commit_callbacks, settings
) -> None:
    settings.OUTGOING_WEBHOOKS_DISABLE_AFTER = 2
    subscription = _subscribe(org_a, fake)
    fake.fail(500, times=10)
    _emit(org_a, django_capture_on_commit_callbacks)
    assert len(fake.received) == 2  # no third attempt: the subscription is off
    _emit(org_a, django_capture_on_commit_callbacks)  # nor new events
    assert len(fake.received) == 2
    with tenant_context(org_a):
        subscription.refresh_from_db()
    assert not subscription.is_active
    assert "after 2 failed attempts in a row" in subscription.disabled_reason
    assert "Answered 500" in subscription.disabled_reason
    api = client_for(make_staff(org_a, Role.ORG_ADMIN))
    url = f"/api/v1/webhook-subscriptions/{subscription.pk}/"
    assert api.get(url).json()["disabled_reason"] == subscription.disabled_reason
    turned_on = api.patch(url, {"is_active": True}, format="json").json()
    assert turned_on["is_active"] and turned_on["disabled_reason"] == ""
    assert turned_on["consecutive_failures"] == 0


def test_a_pending_attempt_of_a_subscription_turned_off_is_not_sent(org_a, fake) -> None:
    with tenant_context(org_a):
        delivery = WebhookDeliveryFactory(subscription=WebhookSubscriptionFactory(
            is_active=False))
        assert services.attempt(delivery.pk) is None
        delivery.refresh_from_db()
    assert delivery.state == "failed" and "turned off" in delivery.error
    assert fake.received == []


# -- SSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/hook", "http://172.16.5.4/", "http://192.168.1.1/", "http://127.0.0.1:8000/",
    "http://[::1]/", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/",
    "http://224.0.0.1/", "http://240.0.0.1/", "http://0.0.0.0/", "http://100.64.0.1/",
    "http://[::ffff:10.0.0.1]/", "http://[fd00::1]/", "ftp://hooks.example.com/",
    "file:///etc/passwd", "https://user:pw@hooks.example.com/", "https:///no-host", "http://[::1",
])
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeAddress):
        addresses.check_url(url)


def test_a_host_resolving_to_loopback_is_refused_unless_loopback_is_allowed(dns, settings) -> None:
    dns["sneaky.example.com"] = [PUBLIC, "127.0.0.1"]
    with pytest.raises(UnsafeAddress, match="loopback"):
        addresses.check_url("https://sneaky.example.com/hook")
    settings.OUTGOING_WEBHOOKS_ALLOW_LOOPBACK = True
    target = addresses.check_url("https://sneaky.example.com:8443/hook?x=1")
    assert (target.host_header, target.path) == ("sneaky.example.com:8443", "/hook?x=1")
    with pytest.raises(UnsafeAddress, match="private"):
        addresses.check_url("http://10.1.2.3/")  # loopback only, never private ranges


def test_the_api_refuses_a_private_address_naming_the_field(org_a, dns) -> None:
    dns["internal.example.com"] = ["10.20.30.40"]
    api = client_for(make_staff(org_a, Role.ORG_ADMIN))
    answer = api.post("/api/v1/webhook-subscriptions/", {
        "url": "https://internal.example.com/x", "events": ["lead.created"]}, format="json")
    assert answer.status_code == 400 and "url" in answer.json()
    assert "10.20.30.40" in str(answer.json())
    bad_events = api.post("/api/v1/webhook-subscriptions/", {
        "url": "https://hooks.example.com/x", "events": ["order.shipped"]}, format="json")
    assert bad_events.status_code == 400 and "events" in bad_events.json()


def test_a_host_rebound_to_loopback_after_subscribing_is_refused_at_send_time(
    org_a, fake, dns, eager, django_capture_on_commit_callbacks
) -> None:
    _subscribe(org_a, fake, url="https://rebind.example.com/x")
    dns["rebind.example.com"] = ["127.0.0.1"]
    _emit(org_a, django_capture_on_commit_callbacks)
    assert fake.received == []
    [attempt] = _attempts(org_a)  # refused, not retried
    assert attempt.state == "failed" and "loopback" in attempt.error


def test_a_redirect_is_not_followed(org_a, fake, eager, django_capture_on_commit_callbacks,
                                    settings) -> None:
    settings.OUTGOING_WEBHOOKS_MAX_ATTEMPTS = 1
    _subscribe(org_a, fake)
    fake.fail(302, location="http://169.254.169.254/latest/meta-data/")
    _emit(org_a, django_capture_on_commit_callbacks)
    assert len(fake.received) == 1  # the redirect's target was never asked
    [attempt] = _attempts(org_a)
    assert attempt.status_code == 302 and "not followed" in attempt.error


def test_the_connection_goes_to_the_checked_address(org_a, dns) -> None:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host} {request.headers['host']}")
        return httpx.Response(204)

    dns["hooks.example.com"] = ["2606:2800:220:1::1"]
    target = addresses.check_url("https://hooks.example.com/in")
    with client.use_transport(httpx.MockTransport(record)):
        assert client.post(target, b"{}", {}).status_code == 204
    assert seen == ["2606:2800:220:1::1 hooks.example.com"]
    assert ipaddress.ip_address("2606:2800:220:1::1") == target.address


# -- events where they happen -----------------------------------------------------------------


@pytest.fixture
def listening(org_a) -> WebhookSubscription:
    """Organization A subscribed to every event (nothing is sent: on-commit work is not run)."""
    with tenant_context(org_a):
        return WebhookSubscriptionFactory()


def _emitted(org: Any) -> list[tuple[str, dict[str, Any]]]:
    with tenant_context(org):
        rows = WebhookDelivery.objects.order_by("created_at")
        return [(row.event, row.payload["data"]) for row in rows]


def test_an_inbound_message_emits_message_received(org_a, listening) -> None:
    with tenant_context(org_a), transaction.atomic():
        customer = CustomerFactory(wa_id="919811122233", name="Asha")
        store_messages([InboundMessage(
            wamid="wamid.in-1", from_wa_id=customer.wa_id, timestamp=datetime.now(UTC),
            type="text", content=Content(body="Hello"), referral=None, raw={})],
            {}, "919800000000")
    [(event, data)] = _emitted(org_a)
    assert event == "message.received"
    assert data["message"]["wamid"] == "wamid.in-1" and data["message"]["body"] == "Hello"
    assert data["customer"] == {"id": str(customer.pk), "wa_id": customer.wa_id, "name": "Asha"}


def test_a_status_update_emits_message_status(org_a, listening) -> None:
    with tenant_context(org_a), transaction.atomic():
        MessageFactory(message_id="wamid.out-1", sender_type="agent")
        apply_status(StatusUpdate("wamid.out-1", "delivered", datetime.now(UTC), "91981", None,
                                  None))
    [(event, data)] = _emitted(org_a)
    assert event == "message.status" and (data["wamid"], data["status"]) == (
        "wamid.out-1", "delivered")


def test_a_new_lead_emits_lead_created(org_a, listening) -> None:
    with tenant_context(org_a):
        lead = create_lead(CustomerFactory(name="Asha Rao"), {"city": "Pune"}, "flow-1")
    [(event, data)] = _emitted(org_a)
    assert event == "lead.created"
    assert data["lead"]["id"] == str(lead.pk) and data["lead"]["city"] == "Pune"


def test_an_assignment_emits_conversation_assigned(org_a, listening) -> None:
    with tenant_context(org_a):
        customer = CustomerFactory()
        agent, admin = UserFactory(), UserFactory(org_admin=True)
        assign(customer, agent, by=admin)
        assign(customer, agent, by=admin)  # no change: no event
    [(event, data)] = _emitted(org_a)
    assert event == "conversation.assigned"
    assert data["assignee"] == {"id": str(agent.pk), "username": agent.username}
    assert (data["previous_assignee"], data["by"]) == (None, str(admin.pk))


# -- API and admin ---------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_never_in_logs(org_a, fake, eager, caplog,
                                                    django_capture_on_commit_callbacks) -> None:
    caplog.set_level(logging.DEBUG)
    api = client_for(make_staff(org_a, Role.ORG_ADMIN))
    created = api.post("/api/v1/webhook-subscriptions/", {
        "url": "https://hooks.example.com/in?token=abc", "events": ["lead.created"]},
        format="json")
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    fake.secret = secret
    _emit(org_a, django_capture_on_commit_callbacks)
    assert fake.received[0].verified
    url = f"/api/v1/webhook-subscriptions/{created.json()['id']}/"
    shown = [api.get(url).content, api.get("/api/v1/webhook-subscriptions/").content,
             api.get("/api/v1/webhook-deliveries/").content]
    assert not any(secret.encode() in body for body in shown)
    assert secret not in caplog.text and "token=abc" not in caplog.text


def test_only_an_org_admin_manages_subscriptions(org_a) -> None:
    agent = client_for(make_staff(org_a, Role.AGENT))
    assert agent.get("/api/v1/webhook-subscriptions/").status_code == 403
    assert agent.get("/api/v1/webhook-deliveries/").status_code == 403
    assert agent.post("/api/v1/webhook-subscriptions/", {
        "url": "https://hooks.example.com/", "events": ["lead.created"]},
        format="json").status_code == 403


@pytest.mark.usefixtures("python_scope")
def test_another_organization_s_subscriptions_and_deliveries_are_not_found(org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = WebhookDeliveryFactory()
    api = client_for(make_staff(org_a, Role.ORG_ADMIN))
    subscription = f"/api/v1/webhook-subscriptions/{theirs.subscription_id}/"
    assert api.get(subscription).status_code == 404
    assert api.patch(subscription, {"is_active": False}, format="json").status_code == 404
    assert api.delete(subscription).status_code == 404
    assert api.get(f"/api/v1/webhook-deliveries/{theirs.pk}/").status_code == 404
    assert api.get("/api/v1/webhook-subscriptions/").json()["results"] == []
    with unscoped():
        assert WebhookSubscription.objects.get(pk=theirs.subscription_id).is_active


def test_the_admin_shows_the_secret_once_on_adding(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = client.post(admin_url(WebhookSubscription, "add"), {
        "url": "https://hooks.example.com/admin", "events": '["lead.created"]',
        "description": "", "is_active": "on"}, follow=True)
    assert answer.status_code == 200
    with tenant_context(org_a):
        subscription = WebhookSubscription.objects.get()
    secret = subscription.signing_secret()
    assert secret.encode() in answer.content
    page = client.get(admin_url(WebhookSubscription, "change", subscription))
    assert page.status_code == 200 and secret.encode() not in page.content
    assert subscription.secret.encode() not in page.content
    refused = client.post(admin_url(WebhookSubscription, "add"), {
        "url": "http://169.254.169.254/", "events": '["lead.created"]', "is_active": "on"})
    assert refused.status_code == 200 and b"public addresses only" in refused.content


def test_an_order_paid_emits_order_paid_once(org_a, listening) -> None:
    with tenant_context(org_a):
        order = OrderFactory(status="awaiting_payment", total_amount=500)
        set_status(order, "paid")
        set_status(order, "fulfilled")  # not a payment: no event
    [(event, data)] = _emitted(org_a)
    assert event == "order.paid"
    assert data["order"]["id"] == str(order.pk) and data["order"]["status"] == "paid"
