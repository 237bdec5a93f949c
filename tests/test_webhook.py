"""The WhatsApp webhook: handshake, signatures, every message type, statuses, referrals,
redeliveries (also concurrent), batches across organizations, and what is refused or ignored."""
from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext, override_settings

from crm.models import (
    Customer,
    InboundDelivery,
    Message,
    Order,
    OrderItem,
    Organization,
    ReferrerTracking,
    WhatsAppNumber,
)
from tenancy.context import tenant_context, unscoped
from tests import whatsapp_payloads as wp
from tests.factories import (
    CustomerFactory,
    MessageFactory,
    ProductFactory,
    WhatsAppNumberFactory,
)
from tests.webhook_support import Processed

URL = "/webhooks/whatsapp/"
PNID_A, DISPLAY_A = "106540352242922", "15550001111"
PNID_B, DISPLAY_B = "107730351159033", "+1 555-000 2222"
ASHA, RAVI, MEERA = "919812345678", "919845012345", "919900011122"
T0 = datetime.fromtimestamp(wp.BASE_TIME, tz=UTC)


@pytest.fixture(autouse=True)
def _webhook_settings() -> Iterator[None]:
    with override_settings(
        WHATSAPP_APP_SECRET=wp.SECRET, WHATSAPP_VERIFY_TOKEN=wp.VERIFY_TOKEN
    ):
        yield


@pytest.fixture
def numbers(org_a: Organization, org_b: Organization) -> dict[str, WhatsAppNumber]:
    """One WhatsApp number per organization."""
    with tenant_context(org_a):
        a = WhatsAppNumberFactory(phone_number_id=PNID_A, display_number="+1 555-000 1111")
    with tenant_context(org_b):
        b = WhatsAppNumberFactory(phone_number_id=PNID_B, display_number=DISPLAY_B)
    return {"a": a, "b": b}


def post(payload: Any = None, *, raw: bytes | None = None, secret: str = wp.SECRET,
         sig: str | None = None, client: Client | None = None) -> Any:
    """POST a delivery signed like Meta (or as `sig` says)."""
    raw = wp.body(payload) if raw is None else raw
    headers = {"X-Hub-Signature-256": sig if sig is not None else wp.signature(raw, secret)}
    return Processed(
        (client or Client()).post(URL, raw, content_type="application/json", headers=headers))


def to_a(*messages: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A delivery of `messages` to organization A's number."""
    return wp.delivery(wp.entry(wp.change(PNID_A, DISPLAY_A, messages=list(messages), **kw)))


def rows(org: Organization, model: type, *fields: str) -> list[dict[str, Any]]:
    """`fields` of the organization's rows of `model`, read as that organization."""
    with tenant_context(org):
        return list(model.objects.order_by("pk").values(*fields))


def total(model: type) -> int:
    """Rows of `model` across every organization."""
    with unscoped():  # the test asserts nothing landed in any organization
        return model.objects.count()


def nothing_written() -> bool:
    """No message, customer, order, item or referral in any organization."""
    return all(
        total(model) == 0 for model in (Message, Customer, Order, OrderItem, ReferrerTracking)
    )


# --- Handshake ---------------------------------------------------------------------------


def test_handshake_echoes_the_challenge() -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444",
             "hub.verify_token": wp.VERIFY_TOKEN}
    response = Client().get(URL, query)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


@pytest.mark.parametrize("configured, query", [
    (wp.VERIFY_TOKEN, {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "no"}),
    (wp.VERIFY_TOKEN, {"hub.mode": "unsubscribe", "hub.challenge": "1",
                       "hub.verify_token": wp.VERIFY_TOKEN}),
    (wp.VERIFY_TOKEN, {"hub.mode": "subscribe", "hub.challenge": "1"}),
    (wp.VERIFY_TOKEN, {}),
    ("", {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}),
], ids=["wrong-token", "wrong-mode", "no-token", "nothing", "empty-configured-token"])
def test_handshake_is_refused(configured: str, query: dict[str, str]) -> None:
    with override_settings(WHATSAPP_VERIFY_TOKEN=configured):
        response = Client().get(URL, query)
    assert response.status_code == 403
    assert b"1" not in response.content


# --- Signature ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", [
    "missing", "wrong", "other-secret", "no-prefix", "other-body", "non-ascii", "no-secret",
])
def test_unsigned_or_badly_signed_deliveries_are_401_and_write_nothing(
    numbers: dict[str, WhatsAppNumber], case: str
) -> None:
    raw = wp.body(to_a(wp.text(ASHA, "hello")))
    good = wp.signature(raw)
    sig = {
        "missing": "", "wrong": "sha256=" + "0" * 64,
        "other-secret": wp.signature(raw, "another-secret"), "no-prefix": good[7:],
        "other-body": wp.signature(raw + b" "), "non-ascii": "sha256=\u00e9" + good[8:],
        "no-secret": good,
    }[case]
    with override_settings(WHATSAPP_APP_SECRET="" if case == "no-secret" else wp.SECRET):
        response = post(raw=raw, sig=sig)
    assert response.status_code == 401
    assert nothing_written()


def test_signature_is_checked_before_parsing(numbers: dict[str, WhatsAppNumber]) -> None:
    response = post(raw=b"not json", sig="sha256=" + "0" * 64)
    assert response.status_code == 401


def test_csrf_exempt_and_only_get_and_post(numbers: dict[str, WhatsAppNumber]) -> None:
    client = Client(enforce_csrf_checks=True)
    assert post(to_a(wp.text(ASHA, "hi")), client=client).status_code == 200
    assert client.put(URL, b"{}", content_type="application/json").status_code == 405


# --- Inbound messages --------------------------------------------------------------------

MESSAGE_FIELDS = ("type", "body", "media_id", "caption", "filename", "mime_type", "latitude",
                  "longitude")
TYPES: list[tuple[Callable[..., dict[str, Any]], dict[str, Any]]] = [
    (lambda s: wp.text(s, "Hello, is the clinic open?"),
     {"type": "text", "body": "Hello, is the clinic open?"}),
    (wp.image, {"type": "image", "body": "Look at this", "media_id": "1003383421387256",
                "caption": "Look at this", "mime_type": "image/jpeg"}),
    (wp.video, {"type": "video", "body": "Clip", "media_id": "2004", "caption": "Clip",
                "mime_type": "video/mp4"}),
    (wp.audio, {"type": "audio", "media_id": "3005", "mime_type": "audio/ogg; codecs=opus"}),
    (wp.sticker, {"type": "sticker", "media_id": "4006", "mime_type": "image/webp"}),
    (wp.document, {"type": "document", "body": "My report", "media_id": "5007",
                   "caption": "My report", "filename": "report.pdf",
                   "mime_type": "application/pdf"}),
    (wp.location, {"type": "location", "latitude": 12.9716, "longitude": 77.5946,
                   "body": "Location: Oliva Clinic, MG Road, Bengaluru (12.9716, 77.5946)"}),
    (wp.contacts, {"type": "contacts", "body": "Contact: Ravi Kumar (+91 98450 12345)"}),
    (wp.button_reply, {"type": "interactive", "body": "Yes, book"}),
    (wp.list_reply, {"type": "interactive", "body": "Hair removal"}),
    (wp.flow_reply, {"type": "interactive", "body": "Sent"}),
    (wp.button, {"type": "button", "body": "Stop promotions"}),
    (wp.order, {"type": "order", "body": "Order: 3 items: Please deliver by Friday"}),
    (wp.reaction, {"type": "reaction", "body": "Reacted \U0001F44D"}),
]


@pytest.mark.parametrize("build, expected", TYPES, ids=[e["type"] + str(i) for i, (_, e) in
                                                        enumerate(TYPES)])
def test_every_message_type_is_stored(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization,
    build: Callable[..., dict[str, Any]], expected: dict[str, Any],
) -> None:
    item = build(ASHA)
    response = post(to_a(item, names={ASHA: "Asha"}))
    assert response.status_code == 200, response.content
    assert response.json()["stored"]["messages"] == 1
    (stored,) = rows(org_a, Message, *MESSAGE_FIELDS, "message_id", "from_wa_id", "to_wa_id",
                     "timestamp", "sender_type", "raw_message", "customer__wa_id")
    assert stored == {
        **dict.fromkeys(MESSAGE_FIELDS), **expected, "message_id": item["id"],
        "from_wa_id": ASHA, "to_wa_id": DISPLAY_A, "timestamp": T0, "sender_type": "customer",
        "raw_message": item, "customer__wa_id": ASHA,
    }
    assert rows(org_b, Message, "id") == []


def test_new_customer_is_created_with_profile_name_and_last_message(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_b):  # the same person is also organization B's customer
        CustomerFactory(wa_id=ASHA, name="Asha in B", last_message_at=None)
    post(to_a(wp.image(ASHA, at=60), names={ASHA: "Asha"}))
    customers = rows(org_a, Customer, "wa_id", "name", "last_message_at",
                     "last_interaction_time", "last_message_type", "customer_status")
    assert customers == [{
        "wa_id": ASHA, "name": "Asha", "last_message_at": T0.replace(minute=14),
        "last_interaction_time": T0.replace(minute=14), "last_message_type": "image",
        "customer_status": "pending",
    }]
    assert rows(org_b, Customer, "name", "last_message_at") == [
        {"name": "Asha in B", "last_message_at": None}
    ]


def test_existing_customer_is_reused_and_never_moved_back_in_time(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    with tenant_context(org_a):
        CustomerFactory(wa_id=ASHA, name="Asha (agent's spelling)", last_message_at=None)
        CustomerFactory(wa_id=RAVI, name=None, last_message_at=None)
    post(to_a(wp.text(ASHA, "new", at=100), wp.text(RAVI, "hi", at=5),
              names={ASHA: "Asha", RAVI: "Ravi"}))
    post(to_a(wp.text(ASHA, "older, delivered late", at=10)))
    customers = {
        c.pop("wa_id"): c
        for c in rows(org_a, Customer, "wa_id", "name", "last_message_at", "last_message_type")
    }
    assert customers == {
        ASHA: {"name": "Asha (agent's spelling)", "last_message_type": "text",
               "last_message_at": datetime.fromtimestamp(wp.BASE_TIME + 100, tz=UTC)},
        RAVI: {"name": "Ravi", "last_message_type": "text",
               "last_message_at": datetime.fromtimestamp(wp.BASE_TIME + 5, tz=UTC)},
    }
    assert len(rows(org_a, Message, "id")) == 3


def test_order_message_creates_an_order_with_its_items(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization
) -> None:
    item = wp.order(ASHA)
    post(to_a(item))
    (order,) = rows(org_a, Order, "id", "customer__wa_id", "catalog_id", "status", "timestamp")
    assert order | {"id": None} == {"id": None, "customer__wa_id": ASHA,
                                    "catalog_id": "CAT-778899", "status": "pending",
                                    "timestamp": T0}
    items = rows(org_a, OrderItem, "order_id", "product_retailer_id", "quantity", "item_price",
                 "currency")
    assert items == [
        {"order_id": order["id"], "product_retailer_id": "SKU-001", "quantity": 2,
         "item_price": 499.5, "currency": "INR"},
        {"order_id": order["id"], "product_retailer_id": "SKU-002", "quantity": 1,
         "item_price": 1200.0, "currency": "INR"},
    ]
    assert rows(org_b, Order, "id") == [] and rows(org_b, OrderItem, "id") == []


@pytest.mark.usefixtures("python_scope")
def test_a_cart_links_only_the_organizations_own_or_shared_products(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization
) -> None:
    """A cart names products by SKU: A's own first, then the shared catalog; B's never."""
    with tenant_context(org_b):
        ProductFactory(sku="SKU-001")
    with unscoped():  # the shared catalog
        shared = ProductFactory(sku="SKU-002")
        ProductFactory(sku="SKU-003")
    with tenant_context(org_a):
        own = ProductFactory(sku="SKU-003")
    post(to_a(wp.order(ASHA, items=[
        {"product_retailer_id": sku, "quantity": 1, "item_price": 10, "currency": "INR"}
        for sku in ("SKU-001", "SKU-002", "SKU-003")])))
    items = rows(org_a, OrderItem, "product_retailer_id", "product_id")
    assert items == [{"product_retailer_id": "SKU-001", "product_id": None},
                     {"product_retailer_id": "SKU-002", "product_id": shared.pk},
                     {"product_retailer_id": "SKU-003", "product_id": own.pk}]


def test_referral_is_tracked(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization
) -> None:
    item = wp.with_referral(wp.text(ASHA, "Hi, I saw your ad"))
    post(to_a(item))
    referrals = rows(org_a, ReferrerTracking, "wa_id", "customer__wa_id", "created_at",
                     "source_url", "source_id", "source_type", "headline", "body",
                     "media_type", "ctwa_clid", "message_id")
    ref = item["referral"]
    assert referrals == [{
        "wa_id": ASHA, "customer__wa_id": ASHA, "created_at": T0, "message_id": item["id"],
        **{k: ref[k] for k in ("source_url", "source_id", "source_type", "headline", "body",
                               "media_type", "ctwa_clid")},
    }]
    assert rows(org_b, ReferrerTracking, "id") == []


def test_batch_across_entries_changes_and_numbers_of_both_organizations(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_b):
        sent = MessageFactory(sender_type="agent", customer=CustomerFactory(wa_id=MEERA))
    a1, a2, a3 = wp.text(ASHA, "one"), wp.image(RAVI, at=1), wp.order(ASHA, at=2)
    b1 = wp.location(ASHA)
    payload = wp.delivery(
        wp.entry(
            wp.change(PNID_A, DISPLAY_A, messages=[a1, a2]),
            wp.change(PNID_B, DISPLAY_B, messages=[b1]),
        ),
        wp.entry(
            wp.change(PNID_B, DISPLAY_B, statuses=[wp.status(sent.message_id, "delivered", MEERA)]),
            wp.change(PNID_A, DISPLAY_A, messages=[a3]),
            waba_id="102290129340399",
        ),
    )
    response = post(payload)
    assert response.json() == {"stored": {"messages": 4, "duplicates": 0, "statuses": 1,
                                          "stale_statuses": 0, "preferences": 0}, "ignored": []}
    assert {(m["message_id"], m["to_wa_id"]) for m in
            rows(org_a, Message, "message_id", "to_wa_id")} == {
        (a1["id"], DISPLAY_A), (a2["id"], DISPLAY_A), (a3["id"], DISPLAY_A)}
    assert {m["message_id"] for m in rows(org_b, Message, "message_id")} == {
        sent.message_id, b1["id"]}
    assert {c["wa_id"] for c in rows(org_a, Customer, "wa_id")} == {ASHA, RAVI}
    assert {c["wa_id"] for c in rows(org_b, Customer, "wa_id")} == {MEERA, ASHA}
    assert len(rows(org_a, Order, "id")) == 1 and rows(org_b, Order, "id") == []
    with tenant_context(org_b):
        assert Message.objects.get(pk=sent.pk).delivery_status == "delivered"
        assert Message.objects.get(message_id=b1["id"]).to_wa_id == "15550002222"


# --- Redelivery --------------------------------------------------------------------------


def test_redelivery_stores_nothing_twice(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    first = wp.with_referral(wp.order(ASHA))
    payload = to_a(first, wp.text(RAVI, "hi"))
    assert post(payload).json()["stored"]["messages"] == 2
    again = post(payload).json()
    assert again["stored"] == {"messages": 0, "duplicates": 2, "statuses": 0,
                               "stale_statuses": 0, "preferences": 0}
    twice_in_one = post(to_a(wp.text(MEERA, "x", wamid="wamid.same"),
                             wp.text(MEERA, "x", wamid="wamid.same"))).json()
    assert twice_in_one["stored"]["messages"] == 1 and twice_in_one["stored"]["duplicates"] == 1
    assert len(rows(org_a, Message, "id")) == 3
    assert len(rows(org_a, Customer, "id")) == 3
    assert len(rows(org_a, Order, "id")) == 1 and len(rows(org_a, OrderItem, "id")) == 2
    assert len(rows(org_a, ReferrerTracking, "id")) == 1


def _post_from_threads(payloads: list[dict[str, Any]]) -> list[int]:
    """POST each payload from its own thread (own connection), all at once."""
    barrier = threading.Barrier(len(payloads))
    codes: list[int] = []

    def deliver(payload: dict[str, Any]) -> None:
        try:
            barrier.wait(timeout=10)
            codes.append(post(payload).status_code)
        finally:
            connection.close()  # this thread's connection

    threads = [threading.Thread(target=deliver, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return codes


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_wamid_store_it_once(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    payload = to_a(wp.with_referral(wp.order(ASHA)))
    assert _post_from_threads([copy.deepcopy(payload) for _ in range(8)]) == [200] * 8
    assert len(rows(org_a, Message, "id")) == 1
    assert len(rows(org_a, Customer, "id")) == 1
    assert len(rows(org_a, Order, "id")) == 1 and len(rows(org_a, OrderItem, "id")) == 2
    assert len(rows(org_a, ReferrerTracking, "id")) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_messages_of_one_customer_create_it_once(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    payloads = [to_a(wp.text(ASHA, f"message {i}", at=i)) for i in range(8)]
    assert _post_from_threads(payloads) == [200] * 8
    assert len(rows(org_a, Message, "id")) == 8
    (customer,) = rows(org_a, Customer, "last_message_at")
    assert customer["last_message_at"] == datetime.fromtimestamp(wp.BASE_TIME + 7, tz=UTC)


def test_async_client(numbers: dict[str, WhatsAppNumber], org_a: Organization) -> None:
    raw = wp.body(to_a(wp.text(ASHA, "from ASGI")))
    response = async_to_sync(AsyncClient().post)(
        URL, raw, content_type="application/json",
        headers={"X-Hub-Signature-256": wp.signature(raw)},
    )
    assert response.status_code == 200
    assert rows(org_a, Message, "body") == [{"body": "from ASGI"}]


# --- Statuses ----------------------------------------------------------------------------


def _statuses(*items: dict[str, Any], pnid: str = PNID_A) -> dict[str, Any]:
    display = DISPLAY_A if pnid == PNID_A else DISPLAY_B
    return wp.delivery(wp.entry(wp.change(pnid, display, statuses=list(items))))


def _delivery_state(org: Organization, pk: int) -> tuple[Any, ...]:
    with tenant_context(org):
        m = Message.objects.get(pk=pk)
    return m.delivery_status, m.delivery_status_at, m.error_code, m.error_title


@pytest.fixture
def sent_a(numbers: dict[str, WhatsAppNumber], org_a: Organization) -> Message:
    """A message organization A sent to Asha."""
    with tenant_context(org_a):
        return MessageFactory(sender_type="agent", customer=CustomerFactory(wa_id=ASHA),
                              from_wa_id=DISPLAY_A, to_wa_id=ASHA)


def test_statuses_only_move_forward(sent_a: Message, org_a: Organization) -> None:
    wamid = sent_a.message_id
    assert post(_statuses(wp.status(wamid, "sent", ASHA, at=1))).json()["stored"]["statuses"] == 1
    response = post(_statuses(
        wp.status(wamid, "read", ASHA, at=3), wp.status(wamid, "delivered", ASHA, at=2),
    )).json()
    assert response["stored"] == {"messages": 0, "duplicates": 0, "statuses": 1,
                                  "stale_statuses": 1, "preferences": 0}
    assert post(_statuses(wp.status(wamid, "sent", ASHA, at=1))).json()["stored"][
        "stale_statuses"] == 1
    at3 = datetime.fromtimestamp(wp.BASE_TIME + 3, tz=UTC)
    assert _delivery_state(org_a, sent_a.pk) == ("read", at3, None, None)


def test_failed_is_recorded_with_its_error_and_is_final(
    sent_a: Message, org_a: Organization
) -> None:
    wamid = sent_a.message_id
    post(_statuses(wp.status(wamid, "sent", ASHA, at=1),
                   wp.status(wamid, "failed", ASHA, at=2, errors=wp.failure())))
    post(_statuses(wp.status(wamid, "delivered", ASHA, at=3), wp.status(wamid, "read", ASHA, at=4)))
    at2 = datetime.fromtimestamp(wp.BASE_TIME + 2, tz=UTC)
    assert _delivery_state(org_a, sent_a.pk) == ("failed", at2, 131047, "Re-engagement message")


def test_status_for_an_unknown_wamid_is_acknowledged_and_logged(
    sent_a: Message, org_a: Organization, org_b: Organization,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with tenant_context(org_b):  # organization B holds the wamid; A's number must not reach it
        theirs = MessageFactory(sender_type="agent", message_id="wamid.of-b")
    caplog.set_level(logging.WARNING, logger="crm.webhooks")
    response = post(_statuses(wp.status("wamid.nobody", "read", ASHA),
                              wp.status("wamid.of-b", "read", ASHA)))
    assert response.status_code == 200
    assert response.json()["ignored"] == [
        {"reason": "status for an unknown message", "status": "read",
         "message_id": "wamid.nobody", "at": "entry[0].changes[0]"},
        {"reason": "status for an unknown message", "status": "read",
         "message_id": "wamid.of-b", "at": "entry[0].changes[0]"},
    ]
    assert "wamid.nobody" in caplog.text
    assert _delivery_state(org_b, theirs.pk) == (None, None, None, None)
    assert _delivery_state(org_a, sent_a.pk) == (None, None, None, None)


# --- Ignored items -----------------------------------------------------------------------


@pytest.mark.parametrize("number_state", ["unknown", "inactive-number", "inactive-organization"])
def test_deliveries_to_numbers_out_of_service_are_acknowledged_and_write_nothing(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, number_state: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pnid = "999999999999999" if number_state == "unknown" else PNID_A
    if number_state == "inactive-number":
        with tenant_context(org_a):
            WhatsAppNumber.objects.filter(pk=numbers["a"].pk).update(is_active=False)
    if number_state == "inactive-organization":
        with unscoped():  # organizations are shared rows
            Organization.objects.filter(pk=org_a.pk).update(is_active=False)
    caplog.set_level(logging.WARNING, logger="crm.webhooks")
    payload = wp.delivery(wp.entry(wp.change(pnid, DISPLAY_A, messages=[wp.order(ASHA)],
                                             statuses=[wp.status("wamid.x", "read", ASHA)])))
    response = post(payload)
    assert response.status_code == 200
    (ignored,) = response.json()["ignored"]
    assert ignored["phone_number_id"] == pnid
    assert ignored["reason"] == {
        "unknown": "unknown phone number", "inactive-number": "inactive phone number",
        "inactive-organization": "the number's organization is inactive",
    }[number_state]
    assert nothing_written()
    assert ignored["reason"] in caplog.text


def test_out_of_service_number_does_not_stop_the_rest_of_the_batch(
    numbers: dict[str, WhatsAppNumber], org_b: Organization
) -> None:
    payload = wp.delivery(
        wp.entry(wp.change("999999999999999", DISPLAY_A, messages=[wp.text(ASHA, "lost")])),
        wp.entry(wp.change(PNID_B, DISPLAY_B, messages=[wp.text(ASHA, "kept")])),
    )
    response = post(payload).json()
    assert response["stored"]["messages"] == 1 and len(response["ignored"]) == 1
    assert rows(org_b, Message, "body") == [{"body": "kept"}]
    assert total(Message) == 1


@pytest.mark.parametrize("build", [
    lambda: wp.unsupported(ASHA),
    lambda: wp.unsupported(ASHA, kind="unknown"),
    lambda: wp.unsupported(ASHA, kind="ephemeral"),
    lambda: wp.message("system", {"body": "changed number", "type": "user_changed_number"},
                       sender=ASHA),
    lambda: wp.message("interactive", {"type": "call_permission_reply",
                                       "call_permission_reply": {"response": "accept"}},
                       sender=ASHA),
], ids=["unsupported", "unknown", "ephemeral", "system", "new-interactive-kind"])
def test_messages_of_kinds_without_columns_are_stored_and_described(
    numbers: dict[str, WhatsAppNumber], org_a: Organization,
    build: Callable[[], dict[str, Any]],
) -> None:
    item = build()
    response = post(to_a(wp.with_referral(item)))
    assert response.status_code == 200
    assert response.json()["stored"]["messages"] == 1 and response.json()["ignored"] == []
    (stored,) = rows(org_a, Message, "type", "body", "raw_message", "sender_type")
    kind = "interactive call_permission_reply" if item["type"] == "interactive" else item["type"]
    assert stored == {
        "type": item["type"], "raw_message": item, "sender_type": "customer",
        "body": "changed number" if item["type"] == "system" else
        f"Message of a kind WhatsApp does not show here ({kind})" + (
            ": Message type unknown" if "errors" in item else ""),
    }
    (customer,) = rows(org_a, Customer, "wa_id", "last_inbound_at")
    # The customer wrote: the window opens; a system notice is WhatsApp's, not the customer's.
    assert (customer["last_inbound_at"] is None) == (item["type"] == "system")


def test_unknown_type_next_to_a_known_one(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    response = post(to_a(wp.unsupported(ASHA), wp.text(RAVI, "hello"))).json()
    assert response["stored"]["messages"] == 2 and response["ignored"] == []
    assert {c["wa_id"] for c in rows(org_a, Customer, "wa_id")} == {ASHA, RAVI}


@pytest.mark.parametrize("payload, reason", [
    ({"object": "page", "entry": [{"id": "1", "changes": []}]},
     "not a WhatsApp Business Account delivery"),
    (wp.delivery(wp.entry({"field": "business_capability_update",
                           "value": {"max_daily_conversation_per_phone": 1000}})),
     "change field not handled"),
])
def test_other_objects_and_fields_are_acknowledged(
    numbers: dict[str, WhatsAppNumber], payload: dict[str, Any], reason: str
) -> None:
    response = post(payload)
    assert response.status_code == 200
    assert [i["reason"] for i in response.json()["ignored"]] == [reason]
    assert nothing_written()


# --- Malformed deliveries ----------------------------------------------------------------


def _valid() -> dict[str, Any]:
    """A batch for both organizations that is valid until a test breaks one part of it."""
    return wp.delivery(
        wp.entry(wp.change(PNID_B, DISPLAY_B, messages=[wp.text(RAVI, "valid, for B")])),
        wp.entry(wp.change(PNID_A, DISPLAY_A, messages=[
            wp.text(ASHA, "secret text body"), wp.image(ASHA), wp.location(ASHA),
            wp.order(ASHA), wp.contacts(ASHA), wp.button_reply(ASHA),
        ], statuses=[wp.status("wamid.z", "failed", ASHA, errors=wp.failure())])),
    )


def _a(d: dict[str, Any]) -> dict[str, Any]:
    return d["entry"][1]["changes"][0]["value"]


def _msg(d: dict[str, Any], i: int) -> dict[str, Any]:
    return _a(d)["messages"][i]


def _raw(text: str) -> Callable[[dict[str, Any]], bytes]:
    return lambda d: text.encode()


# Not a webhook delivery at all: refused (400) before anything is kept.
MALFORMED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "not-json": _raw("this is not json"),
    "truncated": lambda d: wp.body(d)[:-3],
    "not-utf8": lambda d: wp.body(d).replace(b"secret", b"\xff\xfe"),
    "array": _raw("[1, 2]"),
    "nan": lambda d: wp.body(d).replace(b"12.9716", b"NaN"),
    "huge-float": lambda d: wp.body(d).replace(b"12.9716", b"1e400"),
    "nul": lambda d: wp.body(d).replace(b"secret", b"\\u0000"),
    "lone-surrogate": lambda d: wp.body(d).replace(b"secret", b"\\ud800"),
    "deep": _raw("[" * 100_000 + "]" * 100_000),
    "no-object": lambda d: d.pop("object"),
    "no-entry": lambda d: d.pop("entry"),
    "entry-not-list": lambda d: d.update(entry={"id": "1"}),
}
M, S = "entry[1].changes[0].value.messages", "entry[1].changes[0].value.statuses"
# A delivery of the right shape holding one item that is not understood: that item is skipped
# and named (path, never content); every other item is stored. (breakage, path, messages kept)
NOT_UNDERSTOOD: dict[str, tuple[Callable[[dict[str, Any]], Any], str, int]] = {
    "no-changes": (lambda d: d["entry"][1].pop("changes"), "entry[1].changes", 1),
    "no-field": (lambda d: d["entry"][1]["changes"][0].pop("field"),
                 "entry[1].changes[0].field", 1),
    "no-value": (lambda d: d["entry"][1]["changes"][0].pop("value"),
                 "entry[1].changes[0].value", 1),
    "no-metadata": (lambda d: _a(d).pop("metadata"), "entry[1].changes[0].value.metadata", 1),
    "no-phone-number-id": (lambda d: _a(d)["metadata"].pop("phone_number_id"),
                           "entry[1].changes[0].value.metadata.phone_number_id", 1),
    "messages-not-list": (lambda d: _a(d).update(messages={"0": _msg(d, 0)}), M, 1),
    "message-not-object": (lambda d: _a(d)["messages"].append("wamid.x"), f"{M}[6]", 7),
    "no-id": (lambda d: _msg(d, 0).pop("id"), f"{M}[0].id", 6),
    "id-too-long": (lambda d: _msg(d, 0).update(id="wamid." + "A" * 5000), f"{M}[0].id", 6),
    "wa-id-too-long": (lambda d: _msg(d, 0).update({"from": "9" * 5000}), f"{M}[0].from", 6),
    # Nor from_user_id, and more than one contact: nothing names the sender.
    "no-from": (lambda d: (_msg(d, 0).pop("from"), _a(d)["contacts"].append({"wa_id": "1"})),
                f"{M}[0]", 6),
    "no-type": (lambda d: _msg(d, 0).pop("type"), f"{M}[0].type", 6),
    "bad-timestamp": (lambda d: _msg(d, 0).update(timestamp="yesterday"),
                      f"{M}[0].timestamp", 6),
    "far-timestamp": (lambda d: _msg(d, 0).update(timestamp="99999999999999"),
                      f"{M}[0].timestamp", 6),
    "text-without-body": (lambda d: _msg(d, 0).update(text={}), f"{M}[0].text.body", 6),
    "text-body-not-string": (lambda d: _msg(d, 0).update(text={"body": 42}),
                             f"{M}[0].text.body", 6),
    "image-without-id": (lambda d: _msg(d, 1)["image"].pop("id"), f"{M}[1].image.id", 6),
    "latitude-not-number": (lambda d: _msg(d, 2)["location"].update(latitude="north"),
                            f"{M}[2].location.latitude", 6),
    "latitude-out-of-range": (lambda d: _msg(d, 2)["location"].update(latitude=123.0),
                              f"{M}[2].location", 6),
    "quantity-not-integer": (lambda d: _msg(d, 3)["order"]["product_items"][0].update(
        quantity="two"), f"{M}[3].order.product_items[0].quantity", 6),
    "quantity-too-large": (lambda d: _msg(d, 3)["order"]["product_items"][0].update(
        quantity=10**12), f"{M}[3].order.product_items[0].quantity", 6),
    "no-products": (lambda d: _msg(d, 3)["order"].update(product_items=[]),
                    f"{M}[3].order.product_items", 6),
    "contacts-not-list": (lambda d: _msg(d, 4).update(contacts={"name": "x"}),
                          f"{M}[4].contacts", 6),
    "reply-without-title": (lambda d: _msg(d, 5)["interactive"]["button_reply"].pop("title"),
                            f"{M}[5].interactive.button_reply.title", 6),
    "contact-without-wa-id": (lambda d: _a(d)["contacts"][0].pop("wa_id"),
                              "entry[1].changes[0].value.contacts[0]", 7),  # nor user_id
    "referral-not-object": (lambda d: _msg(d, 0).update(referral="ad"), f"{M}[0].referral", 6),
    "status-without-id": (lambda d: _a(d)["statuses"][0].pop("id"), f"{S}[0].id", 7),
    "status-without-timestamp": (lambda d: _a(d)["statuses"][0].pop("timestamp"),
                                 f"{S}[0].timestamp", 7),
    "error-code-too-large": (lambda d: _a(d)["statuses"][0]["errors"][0].update(code=10**12),
                             f"{S}[0].errors[0].code", 7),
    "errors-not-list": (lambda d: _a(d)["statuses"][0].update(errors={"code": 1}),
                        f"{S}[0].errors", 7),
}


@pytest.mark.parametrize("breakage", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_deliveries_are_400_and_write_nothing_at_all(
    numbers: dict[str, WhatsAppNumber], breakage: Callable[[dict[str, Any]], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    payload = _valid()
    broken = breakage(payload)
    raw = broken if isinstance(broken, bytes) else wp.body(payload)
    response = post(raw=raw)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "malformed payload"
    assert nothing_written() and total(InboundDelivery) == 0
    assert "secret text body" not in caplog.text
    assert "malformed" in caplog.text


@pytest.mark.parametrize("breakage, where, kept", NOT_UNDERSTOOD.values(),
                         ids=NOT_UNDERSTOOD.keys())
def test_an_item_not_understood_is_skipped_and_named_and_the_others_are_stored(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization,
    breakage: Callable[[dict[str, Any]], Any], where: str, kept: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    payload = _valid()
    breakage(payload)
    response = post(payload)
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["stored"]["messages"] == kept
    skipped = [i for i in report["ignored"] if i["reason"] == "item not understood"]
    assert [i["at"] for i in skipped] == [where]
    assert rows(org_b, Message, "body") == [{"body": "valid, for B"}]
    assert len(rows(org_a, Message, "id")) == kept - 1
    assert "secret text body" not in caplog.text
    assert where in caplog.text
    assert InboundDelivery.objects.get().body == wp.body(payload).decode()  # kept raw


def test_the_valid_batch_used_above_is_valid(numbers: dict[str, WhatsAppNumber]) -> None:
    response = post(_valid())
    assert response.status_code == 200
    assert response.json()["stored"]["messages"] == 7


def test_an_item_not_understood_is_named_with_what_was_expected(
    numbers: dict[str, WhatsAppNumber]
) -> None:
    payload = _valid()
    _msg(payload, 2)["location"]["latitude"] = "north"
    assert post(payload).json()["ignored"][0] == {
        "reason": "item not understood",
        "at": "entry[1].changes[0].value.messages[2].location.latitude",
        "problem": "expected a number",
    }


@pytest.mark.parametrize("context", [{"id": {"nested": 1}}, {"id": ["wamid.x"]}, {"id": 7},
                                     {"id": "w" * 5000}, "wamid.x", ["wamid.x"]],
                         ids=["id-object", "id-list", "id-number", "id-too-long", "string", "list"])
def test_a_reply_context_of_the_wrong_shape_is_skipped_naming_it(
    numbers: dict[str, WhatsAppNumber], context: Any
) -> None:
    reply = {**wp.text(ASHA, "hello"), "context": context}
    response = post(to_a(reply))
    assert response.status_code == 200, response.content
    (skipped,) = response.json()["ignored"]
    assert skipped["at"].startswith("entry[0].changes[0].value.messages[0].context")
    assert nothing_written()


def test_a_forwarded_message_context_without_id_is_stored(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    forwarded = {**wp.text(ASHA, "hello"), "context": {"forwarded": True}}
    assert post(to_a(forwarded)).status_code == 200
    [stored] = rows(org_a, Message, "raw_message")
    assert stored["raw_message"]["context"] == {"forwarded": True}


def test_logs_never_hold_message_content(
    numbers: dict[str, WhatsAppNumber], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    post(to_a(wp.text(ASHA, "secret text body"), {**wp.unsupported(RAVI), "timestamp": "x"}))
    post(wp.delivery(wp.entry(wp.change("1", DISPLAY_A, messages=[wp.text(ASHA, "secret")]))))
    assert "secret" not in caplog.text
    assert "item not understood" in caplog.text


# --- Queries -----------------------------------------------------------------------------


def _queries(payload: dict[str, Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert post(payload).status_code == 200
    return len(captured)


def test_queries_per_delivery_stay_flat(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    # In a test, the request's transaction is a savepoint: two of the counted queries.
    new_one = _queries(to_a(wp.text(ASHA, "first")))
    known_one = _queries(to_a(wp.text(ASHA, "second", at=1)))
    wa_ids = [f"9198000{i:05d}" for i in range(10)]
    new_ten = _queries(to_a(*[wp.text(w, "first") for w in wa_ids]))
    known_ten = _queries(to_a(*[wp.text(w, "again", at=1) for w in wa_ids]))
    redelivered = _queries(to_a(*[wp.text(w, "again", at=1, wamid=f"wamid.r{w}")
                                  for w in wa_ids]))
    lock = 1 if connection.vendor == "postgresql" else 0  # the advisory lock statement
    # The intake, the same for every delivery: the INSERT that accepts it; the worker's batch
    # (savepoint, claim, earlier deliveries of its senders, its number's lock, the delivery's
    # savepoint, its update, two releases) and the batch that finds nothing more (savepoint,
    # claim, release).
    intake = 11 + lock
    # number, savepoint, (lock,) wamid check, customer select, insert + reselect or update,
    # message insert, release; and the first delivery only, the outgoing webhook subscriptions
    # (that the organization has none is then remembered: crm.outgoing.subscribers)
    assert (new_one, known_one) == (9 + lock + intake, 7 + lock + intake)
    assert (new_ten, known_ten) == (new_one - 1, known_one)
    assert redelivered == known_one
    assert _queries(to_a(*[wp.text(w, "again", at=1, wamid=f"wamid.r{w}")
                           for w in wa_ids])) == 4 + lock + intake  # number, savepoint, check,
    # release
