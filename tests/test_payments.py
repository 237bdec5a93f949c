"""Razorpay: payment links sent on WhatsApp, the signed webhook (signature first, once per
event id, only inside the organization of its URL), beat's reconciliation; secrets in no answer
and no log line. Razorpay and Meta are the fakes."""
from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from bench.fake_graph import FakeGraph
from bench.fake_razorpay import FakeRazorpay, sign
from crm.integrations import credentials
from crm.models import Order, Organization, Payment, PaymentEvent, PaymentTransaction, Role
from crm.payments import reconcile
from tenancy.context import tenant_context, unscoped
from tests.factories import (
    CustomerFactory,
    MessageFactory,
    OrderFactory,
    WhatsAppNumberFactory,
)
from tests.test_api import client_for, staff

KEY_SECRET = "rzp-key-secret-do-not-log-7"
WEBHOOK_SECRET = "rzp-webhook-secret-do-not-log-8"


def configure(org: Organization, fake: FakeRazorpay, key_id: str = "rzp_test_a") -> None:
    """Organization `org` has Razorpay keys the fake accepts."""
    fake.add_account(key_id, KEY_SECRET)
    with tenant_context(org):
        credentials.save("razorpay", {"key_id": key_id, "key_secret": KEY_SECRET,
                                      "webhook_secret": WEBHOOK_SECRET,
                                      "payment_link_template": "payment_link"})


def priced_order(org: Organization, *, wrote_minutes_ago: int = 5) -> Order:
    """A pending order of 499.00 whose customer wrote `wrote_minutes_ago` minutes ago."""
    with tenant_context(org):
        WhatsAppNumberFactory()
        customer = CustomerFactory()
        MessageFactory(customer=customer,
                       timestamp=timezone.now() - timedelta(minutes=wrote_minutes_ago))
        return OrderFactory(customer=customer, status="pending",
                            total_amount=Decimal("499.00"), currency="INR")


@pytest.fixture
def order(org_a: Organization, fake_razorpay: FakeRazorpay) -> Order:
    configure(org_a, fake_razorpay)
    return priced_order(org_a)


def deliver(org: Organization, body: bytes, *, event_id: str = "evt_1",
            secret: str = WEBHOOK_SECRET, signature: str | None = None) -> Any:
    return Client().post(f"/webhooks/razorpay/{org.pk}/", body, content_type="application/json",
                         HTTP_X_RAZORPAY_SIGNATURE=sign(body, secret) if signature is None
                         else signature, HTTP_X_RAZORPAY_EVENT_ID=event_id)


def send_link(org: Organization, order: Order) -> Any:
    return client_for(staff(org, Role.AGENT)).post(f"/api/v1/orders/{order.pk}/payment-link/")


def test_a_link_is_created_sent_paid_and_confirmed_once(
    org_a: Organization, order: Order, fake_razorpay: FakeRazorpay, fake_graph: FakeGraph,
    caplog: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = send_link(org_a, order)
    assert answer.status_code == 201, answer.json()
    link_id = answer.json()["payment"]["razorpay_id"]
    link = fake_razorpay.links[link_id]
    assert link["amount"] == 49900 and link["reference_id"].startswith(order.pk.hex)
    assert link["notes"] == {"organization": str(org_a.pk), "order": str(order.pk)}
    assert link["customer"]["contact"] == f"+{order.customer.wa_id}"
    assert link["short_url"] in fake_graph.sent()[0].body["text"]["body"]  # inside the window
    with tenant_context(org_a):
        assert Order.objects.get(pk=order.pk).status == "awaiting_payment"
    fake_razorpay.pay(link_id)
    body = fake_razorpay.event("payment_link.paid", link_id)
    answers = [deliver(org_a, body), deliver(org_a, body)]  # Razorpay retries the same event
    assert [a.json()["status"] for a in answers] == ["paid", "duplicate"]
    with tenant_context(org_a):
        assert Order.objects.get(pk=order.pk).status == "paid"
        payment = Payment.objects.get()
        assert payment.status == "paid" and payment.notification_sent
        transaction = PaymentTransaction.objects.get()
        assert transaction.status == "captured" and transaction.gateway_response["id"]
        assert PaymentEvent.objects.count() == 1
    confirmations = [c for c in fake_graph.sent() if "received your payment" in str(c.body)]
    assert len(confirmations) == 1
    # A second link for a paid order is refused.
    assert send_link(org_a, order).status_code == 409
    seen = caplog.text + "".join(a.content.decode() for a in [answer, *answers])
    assert "razorpay POST /payment_links: 200" in caplog.text
    assert KEY_SECRET not in seen and WEBHOOK_SECRET not in seen


def test_outside_the_window_the_template_carries_the_link(
    org_a: Organization, fake_razorpay: FakeRazorpay, fake_graph: FakeGraph
) -> None:
    configure(org_a, fake_razorpay)
    order = priced_order(org_a, wrote_minutes_ago=60 * 30)
    answer = send_link(org_a, order)
    assert answer.status_code == 201
    sent = fake_graph.sent()[0].body["template"]
    assert sent["name"] == "payment_link"
    assert sent["components"][0]["parameters"][0]["text"].startswith("https://rzp.io/")


def test_refusals_before_any_link(org_a: Organization, fake_razorpay: FakeRazorpay,
                                  fake_graph: FakeGraph) -> None:
    order = priced_order(org_a)
    answer = send_link(org_a, order)  # not configured
    assert answer.status_code == 400 and "PUT /api/v1/integrations/razorpay/" in str(
        answer.json())
    fake_razorpay.add_account("rzp_test_a", "another-secret")
    with tenant_context(org_a):
        credentials.save("razorpay", {"key_id": "rzp_test_a", "key_secret": KEY_SECRET,
                                      "webhook_secret": WEBHOOK_SECRET})
    answer = send_link(org_a, order)  # keys the account refuses: marked broken
    assert answer.status_code == 502 and KEY_SECRET not in answer.content.decode()
    with tenant_context(org_a):
        assert credentials.load("razorpay").status == "broken"
        assert not Payment.objects.exists()
    stale = priced_order(org_a, wrote_minutes_ago=60 * 30)
    with tenant_context(org_a):
        credentials.save("razorpay", {"key_id": "rzp_test_a", "key_secret": "another-secret"})
    answer = send_link(org_a, stale)  # outside the window and no template chosen
    assert answer.status_code == 409 and "payment_link_template" in answer.json()["detail"]
    assert not fake_razorpay.links


@pytest.mark.parametrize("signature", ["", "0" * 64, "wrong"])
def test_a_bad_or_missing_signature_is_401_and_changes_nothing(
    org_a: Organization, order: Order, fake_razorpay: FakeRazorpay, fake_graph: FakeGraph,
    signature: str,
) -> None:
    link_id = send_link(org_a, order).json()["payment"]["razorpay_id"]
    fake_razorpay.pay(link_id)
    body = fake_razorpay.event("payment_link.paid", link_id)
    assert deliver(org_a, body, signature=signature).status_code == 401
    assert deliver(org_a, body, secret="another-secret").status_code == 401
    with tenant_context(org_a):
        assert Order.objects.get(pk=order.pk).status == "awaiting_payment"
        assert not PaymentEvent.objects.exists()


@pytest.mark.usefixtures("python_scope")
def test_an_event_naming_another_organizations_order_changes_nothing(
    org_a: Organization, org_b: Organization, order: Order, fake_razorpay: FakeRazorpay,
    fake_graph: FakeGraph,
) -> None:
    link_id = send_link(org_a, order).json()["payment"]["razorpay_id"]
    payment = fake_razorpay.pay(link_id)
    configure(org_b, fake_razorpay, key_id="rzp_test_b")  # B signs with its own secret
    for event in ("payment_link.paid", "payment.captured"):
        answer = deliver(org_b, fake_razorpay.event(event, link_id), event_id=f"evt_{event}")
        assert answer.status_code == 200 and answer.json()["status"].startswith("ignored")
    refund = json.dumps({"event": "refund.processed", "payload": {"refund": {"entity": {
        "id": "rfnd_1", "payment_id": payment["id"], "amount": 49900}}}}).encode()
    assert deliver(org_b, refund, event_id="evt_refund").json()["status"].startswith("ignored")
    with unscoped():
        assert Order.objects.get(pk=order.pk).status == "awaiting_payment"
        assert Payment.objects.get(razorpay_id=link_id).status == "created"
        assert not PaymentTransaction.objects.exists()


def test_events_in_any_order_apply_forward_only(
    org_a: Organization, order: Order, fake_razorpay: FakeRazorpay, fake_graph: FakeGraph,
    caplog: Any,
) -> None:
    link_id = send_link(org_a, order).json()["payment"]["razorpay_id"]
    payment = fake_razorpay.pay(link_id)
    failed = json.dumps({"event": "payment.failed", "payload": {"payment": {"entity": {
        **payment, "id": "pay_failed1", "status": "failed"}}}}).encode()
    assert deliver(org_a, failed, event_id="e1").json()["status"] == "payment failed"
    captured = fake_razorpay.event("payment.captured", link_id)
    assert deliver(org_a, captured, event_id="e2").json()["status"] == "paid"
    expired = fake_razorpay.event("payment_link.expired", link_id)
    assert deliver(org_a, expired, event_id="e3").json()["status"].startswith("ignored")
    unknown = json.dumps({"event": "payment.dispute.created", "payload": {}}).encode()
    with caplog.at_level(logging.INFO, logger="crm.payments"):
        assert deliver(org_a, unknown, event_id="e4").status_code == 200
    assert "payment.dispute.created" in caplog.text
    refund = json.dumps({"event": "refund.processed", "payload": {"refund": {"entity": {
        "id": "rfnd_1", "payment_id": payment["id"], "amount": 49900}}}}).encode()
    assert deliver(org_a, refund, event_id="e5").json()["status"] == "refunded"
    with tenant_context(org_a):
        assert Order.objects.get(pk=order.pk).status == "refunded"
        assert {t.transaction_id: t.status for t in PaymentTransaction.objects.all()} == {
            "pay_failed1": "failed", payment["id"]: "captured", "rfnd_1": "refunded"}


def test_an_expired_link_sends_the_order_back_to_pending(
    org_a: Organization, order: Order, fake_razorpay: FakeRazorpay, fake_graph: FakeGraph
) -> None:
    link_id = send_link(org_a, order).json()["payment"]["razorpay_id"]
    fake_razorpay.expire(link_id)
    deliver(org_a, fake_razorpay.event("payment_link.expired", link_id))
    with tenant_context(org_a):
        assert Order.objects.get(pk=order.pk).status == "pending"
        assert Payment.objects.get().status == "expired"


def test_beat_reconciles_links_whose_webhook_was_lost(
    org_a: Organization, org_b: Organization, fake_razorpay: FakeRazorpay,
    fake_graph: FakeGraph,
) -> None:
    configure(org_a, fake_razorpay)
    configure(org_b, fake_razorpay, key_id="rzp_test_b")
    paid_order, expired_order = priced_order(org_a), priced_order(org_b)
    paid = send_link(org_a, paid_order).json()["payment"]["razorpay_id"]
    expired = send_link(org_b, expired_order).json()["payment"]["razorpay_id"]
    fake_razorpay.pay(paid)
    fake_razorpay.expire(expired)
    now = timezone.now()
    assert reconcile.due(now) == []  # too young, not expired: nothing to ask yet
    with unscoped():
        Payment.objects.filter(razorpay_id=paid).update(created_at=now - timedelta(hours=2))
        Payment.objects.filter(razorpay_id=expired).update(expires_at=now - timedelta(minutes=1))
    assert reconcile.reconcile(now) == 2
    assert reconcile.due(now) == []  # each asked once
    with tenant_context(org_a):
        assert Order.objects.get(pk=paid_order.pk).status == "paid"
        assert Payment.objects.get().notification_sent
    with tenant_context(org_b):
        assert Order.objects.get(pk=expired_order.pk).status == "pending"
    assert len([c for c in fake_graph.sent() if "received your payment" in str(c.body)]) == 1


def test_payment_events_are_read_only_and_per_organization(
    org_a: Organization, org_b: Organization, order: Order, fake_razorpay: FakeRazorpay,
    fake_graph: FakeGraph,
) -> None:
    link_id = send_link(org_a, order).json()["payment"]["razorpay_id"]
    fake_razorpay.pay(link_id)
    deliver(org_a, fake_razorpay.event("payment_link.paid", link_id))
    admin_a, admin_b = client_for(staff(org_a)), client_for(staff(org_b))
    listed = admin_a.get("/api/v1/payment-events/").json()
    assert listed["count"] == 1 and WEBHOOK_SECRET not in json.dumps(listed)
    assert admin_b.get("/api/v1/payment-events/").json()["count"] == 0
    event_id = listed["results"][0]["id"]
    assert admin_b.get(f"/api/v1/payment-events/{event_id}/").status_code == 404
    assert admin_a.delete(f"/api/v1/payment-events/{event_id}/").status_code in (403, 405)
