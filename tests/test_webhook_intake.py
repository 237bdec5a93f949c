"""Accept first, process after: deliveries kept before 200, processed by workers in order per
customer, retried with back-off then kept as failed, replayed; a worker killed mid-batch."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from crm.models import Customer, DeliveryState, Message, Organization, Role, InboundDelivery
from crm.webhooks import deliveries, tasks
from tenancy.context import tenant_context, unscoped
from tests import whatsapp_payloads as wp
from tests.celery_support import Workers, wait_for
from tests.factories import CustomerFactory, WhatsAppNumberFactory
from tests.test_admin_support import admin_url, make_staff, signed_in

URL = "/webhooks/whatsapp/"
PNID, DISPLAY = "106540352242922", "15550001111"
ASHA, RAVI, MEERA = "919812345678", "919845012345", "919900011122"


@pytest.fixture(autouse=True)
def _webhook_settings() -> Iterator[None]:
    with override_settings(WHATSAPP_APP_SECRET=wp.SECRET):
        yield


@pytest.fixture
def number(org_a: Organization) -> Any:
    """Organization A's WhatsApp number."""
    with tenant_context(org_a):
        return WhatsAppNumberFactory(phone_number_id=PNID, display_number="+1 555-000 1111")


@pytest.fixture
def no_worker(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Deliveries are only kept (no worker runs); counts the wake-ups the view asked for."""
    woken: list[int] = []
    monkeypatch.setattr(tasks, "_nudge", lambda: woken.append(1))
    with override_settings(WEBHOOK_PROCESS_INLINE=False):
        yield woken


def post(*messages: dict[str, Any]) -> int:
    """POST a signed delivery of `messages` to A's number; the delivery's id."""
    raw = wp.body(wp.delivery(wp.entry(wp.change(PNID, DISPLAY, messages=list(messages)))))
    answer = Client().post(URL, raw, content_type="application/json",
                           headers={"X-Hub-Signature-256": wp.signature(raw)})
    assert answer.status_code == 200, answer.content
    return answer.json()["delivery"]


def stored(org: Organization) -> list[tuple[str, str]]:
    """(sender, body) of the organization's messages, in the order they were stored."""
    with tenant_context(org):
        return list(Message.objects.order_by("pk").values_list("from_wa_id", "body"))


def states() -> list[str]:
    return list(InboundDelivery.objects.order_by("pk").values_list("state", flat=True))


def test_deliveries_are_kept_without_workers_then_stored_in_received_order(
    number: Any, org_a: Organization, no_worker: list[int]
) -> None:
    ids = [post(wp.text(ASHA, "one", at=3)), post(wp.text(RAVI, "hi")),
           post(wp.text(ASHA, "two", at=1)), post(wp.text(ASHA, "three", at=2))]
    assert states() == ["pending"] * 4 and len(no_worker) == 4
    assert stored(org_a) == []
    kept = InboundDelivery.objects.get(pk=ids[0])
    assert kept.senders == [f"{PNID}:{ASHA}"] and b'"one"' in kept.body.encode()
    assert deliveries.process_pending() == 4
    assert stored(org_a) == [(ASHA, "one"), (RAVI, "hi"), (ASHA, "two"), (ASHA, "three")]
    assert states() == ["done"] * 4
    report = InboundDelivery.objects.get(pk=ids[0]).report
    assert report["stored"]["messages"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_customers_later_delivery_waits_while_another_worker_holds_an_earlier_one(
    number: Any, org_a: Organization, no_worker: list[int]
) -> None:
    first, second, other = post(wp.text(ASHA, "first")), post(wp.text(ASHA, "second")), post(
        wp.text(RAVI, "other customer"))
    held, release = threading.Event(), threading.Event()

    def other_worker() -> None:  # holds the first delivery as a worker in mid-batch does
        try:
            with transaction.atomic():
                InboundDelivery.objects.select_for_update().get(pk=first)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        assert deliveries.process_pending() == 1  # only the other customer's
        assert stored(org_a) == [(RAVI, "other customer")]
        assert InboundDelivery.objects.get(pk=second).state == DeliveryState.PENDING
    finally:
        release.set()
        thread.join(10)
    assert deliveries.process_pending() == 2
    assert stored(org_a) == [(RAVI, "other customer"), (ASHA, "first"), (ASHA, "second")]
    assert InboundDelivery.objects.get(pk=other).state == DeliveryState.DONE


def _waiting_on_a_number() -> bool:
    """A session of this test database waits for a receiving number's advisory lock."""
    with connection.cursor() as cursor:  # the catalog, not tenant rows
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND wait_event_type = 'Lock' AND wait_event = 'advisory'")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_taking_two_numbers_in_opposite_order_never_deadlock(
    number: Any, org_a: Organization, org_b: Organization, no_worker: list[int],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each stored message holds its number's roll-up row to commit: batches lock numbers first."""
    with tenant_context(org_b):
        WhatsAppNumberFactory(phone_number_id="106540352240000", display_number="+1 555-000 2222")

    def post_to(pnid: str, display: str, sender: str, text: str) -> None:
        raw = wp.body(wp.delivery(wp.entry(wp.change(pnid, display, messages=[
            wp.text(sender, text)]))))
        assert Client().post(URL, raw, content_type="application/json", headers={
            "X-Hub-Signature-256": wp.signature(raw)}).status_code == 200

    post_to(PNID, DISPLAY, ASHA, "a to A")  # the first worker's batch: A's number, then B's
    post_to("106540352240000", "15550002222", RAVI, "r to B")
    post_to("106540352240000", "15550002222", MEERA, "m to B")  # the second's: B's, then A's
    post_to(PNID, DISPLAY, "919900000001", "x to A")
    stored_one, release = threading.Event(), threading.Event()
    real_ingest = deliveries.ingest

    def pausing_ingest(payloads: Any) -> Any:
        reports = real_ingest(payloads)
        if threading.current_thread().name == "first-worker" and not stored_one.is_set():
            stored_one.set()  # A's roll-up row is now held until this batch commits
            release.wait(30)
        return reports

    monkeypatch.setattr(deliveries, "ingest", pausing_ingest)
    results: dict[str, tuple[int, int]] = {}

    def worker() -> None:
        try:
            results[threading.current_thread().name] = deliveries.process_batch(limit=2)
        finally:
            connection.close()

    first = threading.Thread(target=worker, name="first-worker")
    second = threading.Thread(target=worker, name="second-worker")
    first.start()
    try:
        assert stored_one.wait(20)
        second.start()
        wait_for(_waiting_on_a_number, timeout=20)  # it waits before storing anything
    finally:
        release.set()
        first.join(30)
        second.join(30)
    assert results == {"first-worker": (2, 2), "second-worker": (2, 2)}
    assert InboundDelivery.objects.filter(state=DeliveryState.DONE, attempts=1).count() == 4
    with unscoped():  # both organizations' messages, each stored once
        assert Message.objects.count() == 4


def test_failures_are_retried_with_back_off_then_kept_as_failed_and_replayed(
    number: Any, org_a: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(payload: Any) -> Any:
        raise RuntimeError("the database said no")

    monkeypatch.setattr(deliveries, "ingest", broken)
    # The waits are checked against clock readings taken around each try: no stall of the
    # machine between the try and the assertion can move them.
    wait = timedelta(seconds=60)
    with override_settings(WEBHOOK_RETRY_SECONDS=wait.total_seconds()):
        before = timezone.now()
        pk = post(wp.text(ASHA, "hello"))
        after = timezone.now()
        delivery = InboundDelivery.objects.get(pk=pk)
        assert (delivery.state, delivery.attempts) == ("pending", 1)
        assert delivery.error == "RuntimeError: the database said no"
        assert before + wait <= delivery.next_attempt_at <= after + wait
        assert deliveries.process_pending() == 0  # not due yet
        InboundDelivery.objects.update(next_attempt_at=timezone.now())
        before = timezone.now()
        deliveries.process_pending()
        after = timezone.now()
        delivery.refresh_from_db()
        assert delivery.attempts == 2
        assert before + 2 * wait <= delivery.next_attempt_at <= after + 2 * wait  # doubled
    with override_settings(WEBHOOK_RETRY_SECONDS=0.0):
        InboundDelivery.objects.update(next_attempt_at=None)
        deliveries.process_pending()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 5)
    assert delivery.error == "RuntimeError: the database said no"
    assert stored(org_a) == []
    monkeypatch.undo()
    call_command("replay_webhooks", "--failed", "--now", stdout=open("/dev/null", "w"))
    delivery.refresh_from_db()
    assert (delivery.state, delivery.error, delivery.report["stored"]["messages"]) == (
        "done", "", 1)
    assert stored(org_a) == [(ASHA, "hello")]


def test_a_batch_is_stored_in_a_few_statements_whatever_its_size(
    number: Any, org_a: Organization, org_b: Organization, no_worker: list[int]
) -> None:
    """Each number's messages of a batch go in one set of statements: the roll-up triggers run
    once per batch, and the per-delivery cost is a share of a statement."""
    with tenant_context(org_b):
        WhatsAppNumberFactory(phone_number_id="106540352240000", display_number="+1 555-000 2222")
    senders = [f"91980000{i:04d}" for i in range(30)]
    with tenant_context(org_a):  # two known customers, one statement records both
        CustomerFactory(wa_id=RAVI, name="", last_message_at=None)
        CustomerFactory(wa_id=senders[1], name="Kept", last_message_at=None,
                        conversation_status=Customer.ConversationStatus.RESOLVED)
    ids = [post(wp.text(sender, f"hello {i}", at=i)) for i, sender in enumerate(senders)]
    ids.append(post(wp.text(RAVI, "I am back")))
    ids += [post(wp.text(senders[0], "again", at=40, wamid="wamid.again")) for _ in range(2)]
    raw = wp.body(wp.delivery(wp.entry(wp.change("106540352240000", "15550002222", messages=[
        wp.text(MEERA, "to B")]))))
    assert Client().post(URL, raw, content_type="application/json", headers={
        "X-Hub-Signature-256": wp.signature(raw)}).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert deliveries.process_batch() == (34, 34)
    assert len(queries) <= 32  # 34 deliveries for two organizations; one by one it was ~380
    assert states() == ["done"] * 34
    with tenant_context(org_a):
        assert Message.objects.count() == 32
        ravi = Customer.objects.get(wa_id=RAVI)
        assert (ravi.name, ravi.last_inbound_at is not None) == ("Customer 2345", True)
        kept = Customer.objects.get(wa_id=senders[1])
        assert (kept.name, kept.conversation_status, kept.last_message_type) == (
            "Kept", "open", "text")
        first = Customer.objects.get(wa_id=senders[0])
        assert first.last_message_at == first.last_inbound_at == Message.objects.get(
            message_id="wamid.again").timestamp
    assert stored(org_b) == [(MEERA, "to B")]
    reports = [InboundDelivery.objects.get(pk=pk).report["stored"] for pk in ids[-2:]]
    assert [(r["messages"], r["duplicates"]) for r in reports] == [(1, 0), (0, 1)]


def test_one_failing_delivery_of_a_batch_fails_alone(
    number: Any, org_a: Organization, no_worker: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_ingest = deliveries.ingest

    def refusing_one(payloads: Any) -> Any:
        if any(m.wamid == "wamid.bad" for p in payloads for c in p.changes for m in c.messages):
            raise RuntimeError("this one breaks")
        return real_ingest(payloads)

    monkeypatch.setattr(deliveries, "ingest", refusing_one)
    good, bad, other = (post(wp.text(ASHA, "fine")), post(wp.text(RAVI, "x", wamid="wamid.bad")),
                        post(wp.text(MEERA, "fine too")))
    assert deliveries.process_batch() == (3, 2)
    assert stored(org_a) == [(ASHA, "fine"), (MEERA, "fine too")]
    assert [InboundDelivery.objects.get(pk=pk).state for pk in (good, bad, other)] == [
        "done", "pending", "done"]
    assert InboundDelivery.objects.get(pk=bad).error == "RuntimeError: this one breaks"


def test_replay_since_stores_nothing_twice(number: Any, org_a: Organization) -> None:
    old = post(wp.text(ASHA, "before"))
    InboundDelivery.objects.filter(pk=old).update(
        received_at=timezone.now() - timedelta(days=2))
    post(wp.text(ASHA, "after"))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    call_command("replay_webhooks", "--since", since, stdout=open("/dev/null", "w"))
    assert states() == ["done", "pending"]
    deliveries.process_pending()
    assert stored(org_a) == [(ASHA, "before"), (ASHA, "after")]
    assert InboundDelivery.objects.order_by("pk").last().report["stored"]["duplicates"] == 1


def test_only_platform_staff_see_and_replay_deliveries(
    number: Any, org_a: Organization, no_worker: list[int]
) -> None:
    pk = post(wp.text(ASHA, "hello"))
    InboundDelivery.objects.filter(pk=pk).update(state="failed", error="ValueError: broken")
    platform = signed_in(make_staff(None, Role.SUPER_ADMIN), org_a)
    page = platform.get(admin_url(InboundDelivery))
    assert page.status_code == 200 and b"ValueError: broken" in page.content
    assert platform.get(admin_url(InboundDelivery, "change", pk)).status_code == 200
    replay = {"action": "replay_selected", "_selected_action": [pk]}
    platform.post(admin_url(InboundDelivery), replay)
    assert states() == ["pending"]
    for role in (Role.ORG_ADMIN, Role.AGENT):
        client = signed_in(make_staff(org_a, role))
        assert client.get(admin_url(InboundDelivery)).status_code == 403
        assert client.get(admin_url(InboundDelivery, "change", pk)).status_code in (403, 404)


def _waiting_on_a_lock() -> bool:
    """A session of this test database waits for a row lock (the worker, mid-batch)."""
    with connection.cursor() as cursor:  # the catalog, not tenant rows
        cursor.execute("SELECT count(*) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0] > 0


def test_a_worker_killed_mid_batch_loses_nothing_and_stores_nothing_twice(
    workers: Workers, number: Any, org_a: Organization
) -> None:
    with tenant_context(org_a):
        asha = CustomerFactory(wa_id=ASHA, last_message_at=None, last_inbound_at=None)
    messages = [wp.text(RAVI, "r1", at=1), wp.text(MEERA, "m1", at=2), wp.text(ASHA, "a1", at=3),
                wp.text(RAVI, "r2", at=4), wp.text(ASHA, "a2", at=5)]
    with override_settings(WEBHOOK_PROCESS_INLINE=False):  # every worker stopped: kept only
        for message in messages:
            post(message)
    assert states() == ["pending"] * 5
    held, release = threading.Event(), threading.Event()

    def agent() -> None:  # holds Asha's row: the worker's batch stops at her first message
        try:
            with tenant_context(org_a), transaction.atomic():
                Customer.objects.select_for_update().get(pk=asha.pk)
                held.set()
                release.wait(60)
        finally:
            connection.close()

    thread = threading.Thread(target=agent)
    thread.start()
    try:
        assert held.wait(10)
        first = workers.start(concurrency=1)
        tasks.process_deliveries.delay()
        wait_for(_waiting_on_a_lock, timeout=30)
        workers.kill(first)  # r1 and m1 were stored in its open transaction
    finally:
        release.set()
        thread.join(10)
    assert states() == ["pending"] * 5
    workers.start(concurrency=2)
    tasks.process_deliveries.delay()
    wait_for(lambda: states() == ["done"] * 5, timeout=60)
    assert stored(org_a) == [(RAVI, "r1"), (MEERA, "m1"), (ASHA, "a1"), (RAVI, "r2"),
                             (ASHA, "a2")]
    with tenant_context(org_a):
        assert Customer.objects.count() == 3
    with unscoped():  # nothing landed twice anywhere
        assert Message.objects.count() == 5


def test_processing_has_a_queue_of_its_own_that_every_worker_consumes() -> None:
    """Storing customers' messages never waits behind a backlog of automation or sends."""
    from django.conf import settings

    from crm.celery import app, intake_queue
    default = app.conf.task_default_queue
    route = app.amqp.router.route
    assert route({}, tasks.process_deliveries.name)["queue"].name == intake_queue(default)
    assert route({}, "crm.automation.tasks.run_automation")["queue"].name == default
    # Each bound by its own key to its own exchange: a task is never copied to both queues.
    assert [(queue.name, queue.exchange.name, queue.routing_key)
            for queue in settings.CELERY_TASK_QUEUES] == [
        (name, name, name) for name in (settings.CELERY_TASK_DEFAULT_QUEUE,
                                        intake_queue(settings.CELERY_TASK_DEFAULT_QUEUE))]
