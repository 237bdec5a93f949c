"""Accept first, process after: a signed delivery is one INSERT, workers store what it carries.

Why a table and not RabbitMQ with publisher confirms: the row is written by the database the
request already talks to (one round trip, no second system that must be up to answer Meta),
it is what platform staff read and replay (state, attempts, error), and a worker takes it in
the same transaction that stores its messages, so a worker killed mid-batch leaves it waiting
with nothing stored, and a processed delivery is never processed again. A broker message would
need its own de-duplication and a second store for failures and replays.

A batch is stored together: each receiving number's messages in one set of statements (the
roll-up triggers then run once per batch); when anything in it fails, it is rolled back and
processed one delivery at a time, so a failure stays with its own delivery.

Order per customer: each delivery lists its senders ("<phone_number_id>:<sender>"); a worker
skips a delivery while an earlier waiting one of the same sender is not its own (another
worker holds it, or it waits for a retry), so a customer's deliveries are stored in received
order even with several workers.

No deadlocks between workers: a batch writes roll-up rows per receiving number (crm.0032's
triggers) and holds them until it commits, so two batches taking two numbers in opposite order
would wait on each other. Before storing anything, a batch takes a transaction-scoped advisory
lock per receiving number it writes for, in one global order: batches sharing a number run one
after the other (they already did, on the roll-up rows), the others in parallel.
"""
from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone

from crm.models import DeliveryState, InboundDelivery
from crm.observability.metrics import PROCESSING_LAG
from crm.webhooks.ingest import ingest
from crm.webhooks.parsing import parse_payload
from crm.webhooks.payload import MalformedPayload, Payload

logger = logging.getLogger("crm.webhooks")


NUMBER_LOCKS = 0x77626E6F  # advisory lock namespace of receiving numbers ("wbno")


def _values(data: Any) -> Iterable[tuple[Any, Any]]:
    """(receiving phone_number_id or None, value) of each change of a decoded delivery."""
    for entry in _items(data, "entry"):
        for change in _items(entry, "changes"):
            value = change.get("value")
            metadata = value.get("metadata") if isinstance(value, dict) else None
            yield (metadata.get("phone_number_id") if isinstance(metadata, dict) else None), value


def senders_of(data: Any) -> list[str]:
    """The "<phone_number_id>:<sender>" keys of a decoded delivery, in order, each once."""
    found: dict[str, None] = {}
    for number, value in _values(data):
        for message in _items(value, "messages"):
            sender = message.get("from") or message.get("from_user_id")
            if isinstance(number, str) and isinstance(sender, str):
                found[f"{number}:{sender}"[:600]] = None
    return list(found)


def _lock_numbers(claimed: list[InboundDelivery]) -> None:
    """Take the advisory lock of every receiving number the deliveries write for, in key order."""
    connection = connections[router.db_for_write(InboundDelivery)]
    if connection.vendor != "postgresql":
        return  # SQLite: one writer at a time already
    keys: set[int] = set()
    for delivery in claimed:
        try:
            data = json.loads(delivery.body)
        except ValueError:
            continue  # processing records it as malformed; it writes nothing
        keys.update(zlib.crc32(number.encode()) - 2**31 for number, _ in _values(data)
                    if isinstance(number, str))
    with connection.cursor() as cursor:
        for key in sorted(keys):  # one global order: no two batches wait on each other
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [NUMBER_LOCKS, key])


def _items(parent: Any, name: str) -> list[dict[str, Any]]:
    """The objects of `parent[name]` when it is an array; nothing otherwise."""
    items = parent.get(name) if isinstance(parent, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def accept(body: bytes, senders: list[str]) -> int:
    """Make a signed delivery durable: one INSERT, committed when this returns; its id.

    The statement is written out: it is the whole of the request's work, and the ORM's
    building of it cost about a third of the request's CPU.
    """
    connection = connections[router.db_for_write(InboundDelivery)]
    received_at = InboundDelivery._meta.get_field("received_at").get_db_prep_value(
        timezone.now(), connection)
    with connection.cursor() as cursor:  # a shared, platform-only table (no organization)
        cursor.execute(
            "INSERT INTO inbound_deliveries (received_at, body, senders, state, attempts, error)"
            " VALUES (%s, %s, %s, %s, 0, '') RETURNING id",
            [received_at, body.decode("utf-8"), json.dumps(senders), DeliveryState.PENDING])
        return cursor.fetchone()[0]


def _claim(limit: int, now: datetime) -> list[InboundDelivery]:
    """The oldest waiting deliveries no other worker holds, locked until this transaction ends."""
    return list(
        InboundDelivery.objects.select_for_update(skip_locked=True)
        .filter(state=DeliveryState.PENDING)
        .exclude(next_attempt_at__gt=now)
        .order_by("id")
        .only("id", "received_at", "body", "senders", "attempts")[:limit]
    )


def _held_back(claimed: list[InboundDelivery]) -> set[int]:
    """Claimed deliveries that must wait: an earlier one of a sender of theirs is not ours."""
    connection = connections[router.db_for_write(InboundDelivery)]
    senders = sorted({s for delivery in claimed for s in delivery.senders})
    if connection.vendor != "postgresql" or not senders:
        return set()  # SQLite: one writer at a time, so one worker takes them all in order
    ours = [delivery.pk for delivery in claimed]
    earlier = (
        InboundDelivery.objects.filter(state=DeliveryState.PENDING, id__lt=max(ours))
        .exclude(id__in=ours)
        .filter(senders__has_any_keys=senders)
        .values_list("id", "senders")
    )
    first: dict[str, int] = {}
    for pk, keys in earlier:
        for key in keys:
            first[key] = min(pk, first.get(key, pk))
    held: set[int] = set()
    blocked: set[str] = set()
    for delivery in claimed:  # in received order: one held back holds back its senders' later
        keys = set(delivery.senders)
        if keys & blocked or any(first.get(key, delivery.pk) < delivery.pk for key in keys):
            held.add(delivery.pk)
            blocked |= keys
    return held


def _process_together(parsed: list[tuple[InboundDelivery, Payload]]) -> bool:
    """Store the deliveries' items in one go, each number's messages in one set of statements;
    False (and nothing stored) when any of them fails, to be tried one by one."""
    try:
        with transaction.atomic(using=router.db_for_write(InboundDelivery)):
            reports = ingest([payload for _, payload in parsed])
            done = timezone.now()
            alike: dict[str, list[int]] = {}  # most reports are alike: an UPDATE for each kind
            for (delivery, _), report in zip(parsed, reports):
                alike.setdefault(json.dumps(report.as_json(), sort_keys=True), []).append(
                    delivery.pk)
            for report_json, ids in alike.items():
                InboundDelivery.objects.filter(pk__in=ids).update(
                    state=DeliveryState.DONE, processed_at=done, attempts=F("attempts") + 1,
                    report=json.loads(report_json), error="")
    except Exception as error:  # noqa: BLE001  (one by one, each failure kept with its own)
        logger.info("WhatsApp webhook: a batch of %s deliveries is processed one by one (%s)",
                    len(parsed), f"{type(error).__name__}: {error}"[:300])
        return False
    for delivery, _ in parsed:
        PROCESSING_LAG.observe((done - delivery.received_at).total_seconds())
    return True


def _process_one(delivery: InboundDelivery, payload: Payload, now: datetime) -> bool:
    """Store what the delivery carries, or record why not; True when it is done."""
    try:
        with transaction.atomic(using=router.db_for_write(InboundDelivery)):
            [report] = ingest([payload])
            InboundDelivery.objects.filter(pk=delivery.pk).update(
                state=DeliveryState.DONE, processed_at=timezone.now(),
                attempts=delivery.attempts + 1, report=report.as_json(), error="",
            )
        PROCESSING_LAG.observe((timezone.now() - delivery.received_at).total_seconds())
        return True
    except Exception as error:  # noqa: BLE001  (kept with the delivery, retried, then failed)
        _retry(delivery, f"{type(error).__name__}: {error}", now)
        return False


def _parsed(claimed: list[InboundDelivery], now: datetime) -> list[tuple[InboundDelivery, Payload]]:
    """The deliveries with their parsed payloads; one that does not parse fails for good (the
    same body fails the same way)."""
    parsed = []
    for delivery in claimed:
        try:
            parsed.append((delivery, parse_payload(delivery.body.encode("utf-8"))))
        except MalformedPayload as error:
            _give_up(delivery, f"malformed payload: {error}", now)
    return parsed


def _retry(delivery: InboundDelivery, error: str, now: datetime) -> None:
    attempts = delivery.attempts + 1
    if attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        _give_up(delivery, error, now)
        return
    delay = settings.WEBHOOK_RETRY_SECONDS * 2 ** (attempts - 1)
    logger.warning("WhatsApp webhook: delivery %s failed (try %s), retried in %s s: %s",
                   delivery.pk, attempts, delay, error[:300])
    InboundDelivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts, error=error[:4000], next_attempt_at=now + timedelta(seconds=delay))


def _give_up(delivery: InboundDelivery, error: str, now: datetime) -> None:
    logger.error("WhatsApp webhook: delivery %s failed for good after %s tries: %s",
                 delivery.pk, delivery.attempts + 1, error[:300])
    InboundDelivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.FAILED, attempts=delivery.attempts + 1, error=error[:4000],
        processed_at=now, next_attempt_at=None)


def process_batch(limit: int | None = None) -> tuple[int, int]:
    """Take up to `limit` waiting deliveries and process them in one transaction: together,
    or one by one when that fails (each failure then kept with its own delivery).

    Returns (tried, finished): deliveries processed or failed, and those done. A worker killed
    here rolls everything back: the deliveries wait for the next worker, nothing stored.
    """
    now = timezone.now()
    with transaction.atomic(using=router.db_for_write(InboundDelivery)):
        claimed = _claim(limit or settings.WEBHOOK_BATCH_SIZE, now)
        held = _held_back(claimed)
        todo = [delivery for delivery in claimed if delivery.pk not in held]
        _lock_numbers(todo)
        parsed = _parsed(todo, now)
        if len(parsed) > 1 and _process_together(parsed):
            return len(todo), len(parsed)
        return len(todo), sum(_process_one(delivery, payload, now) for delivery, payload in parsed)


def process_pending(max_batches: int | None = None) -> int:
    """Process waiting deliveries batch after batch until none is left; how many finished."""
    finished = batches = 0
    while max_batches is None or batches < max_batches:
        tried, done = process_batch()
        finished += done
        batches += 1
        if not tried:
            break  # none left, or every one waits on another worker (which goes on)
    return finished


def replay(*, failed_only: bool = False, since: datetime | None = None,
           ids: Iterable[int] = ()) -> int:
    """Put deliveries back in the queue (the failed ones, or all since a time); how many."""
    rows = InboundDelivery.objects.all()
    if failed_only:
        rows = rows.filter(state=DeliveryState.FAILED)
    if since is not None:
        rows = rows.filter(received_at__gte=since)
    wanted = list(ids)
    if wanted:
        rows = rows.filter(pk__in=wanted)
    return rows.update(state=DeliveryState.PENDING, attempts=0, next_attempt_at=None, error="")
