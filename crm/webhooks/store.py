"""Store inbound messages once each, with their customers, orders and referrals.

Runs inside tenant_context(organization) and one transaction per change (see ingest).
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from django.db import connections, router
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils import timezone

from crm.automation.tasks import queue_after_commit
from crm.inbox import events
from crm.models import Customer, Message, Order, OrderItem, Product, ReferrerTracking
from crm.outgoing import emit_each, payloads
from crm.webhooks.amend import amend, follow_system_changes
from crm.webhooks.payload import InboundMessage
from crm.whatsapp.optout import apply_keywords
from crm.whatsapp.send import AGENT
from tenancy.context import get_current_organization_id

CUSTOMER_COLUMNS = ("id", "organization_id", "wa_id", "name")
REOPENED = (Customer.ConversationStatus.RESOLVED, Customer.ConversationStatus.SNOOZED)


def lock_key(organization_id: uuid.UUID, wamid: str) -> int:
    """A stable signed 64-bit advisory lock key for (organization, wamid)."""
    digest = hashlib.blake2b(f"{organization_id}:{wamid}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_wamids(wamids: Sequence[str]) -> None:
    """Serialize concurrent deliveries of these wamids until the transaction ends (PostgreSQL).

    There is no unique index to lean on (legacy databases may hold duplicate message_ids), so a
    redelivery racing the first delivery waits here, then sees its row. The lock must be its own
    statement: the existence check after it needs a snapshot taken once the lock is held. Keys
    are taken in sorted order, so two deliveries of overlapping batches cannot deadlock. SQLite
    (local runs) has no such lock; it allows one writer at a time, and a transaction that read
    before another committed fails to write ("database is locked") rather than storing twice.
    """
    connection = connections[router.db_for_write(Message)]
    if connection.vendor != "postgresql" or not wamids:
        return
    organization_id = get_current_organization_id()
    assert organization_id is not None, "lock_wamids() runs inside tenant_context()"
    keys = sorted({lock_key(organization_id, wamid) for wamid in wamids})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", [keys])


def _latest_by_sender(messages: Sequence[InboundMessage]) -> dict[str, InboundMessage]:
    """Each conversation's latest message (a group's is the group's, not its member's)."""
    latest: dict[str, InboundMessage] = {}
    for message in messages:
        seen = latest.get(message.customer_key)
        if seen is None or message.timestamp >= seen.timestamp:
            latest[message.customer_key] = message
    return latest


def _newer(message: InboundMessage) -> Q:
    """The customer's recorded last message is not newer than `message`."""
    return Q(last_message_at__isnull=True) | Q(last_message_at__lte=message.timestamp)


def _fill_name(name: str) -> Case:
    """The profile name where the customer has none; a name is never replaced."""
    unnamed = Q(name__isnull=True) | Q(name="")
    return Case(When(unnamed, then=Value(name, output_field=Customer._meta.get_field("name"))),
                default=F("name"))


def _inbound(message: InboundMessage, to_wa_id: str | None) -> dict[str, object]:
    """The inbox's columns for a customer's newest inbound message (none for a message that
    is not the customer writing: a system notice, a deletion, the Business app's own)."""
    if not message.opens_window:
        return {}
    return {"last_inbound_at": message.timestamp, "business_number": to_wa_id}


def _reopen(wrote: Q | None = None) -> dict[str, object]:
    """The customer wrote: a resolved or snoozed conversation opens again, for the team to look
    at anew (crm.contacts); decided on the row the UPDATE changes. `wrote`: the customers who
    wrote, when not all did."""
    again = Q(conversation_status__in=REOPENED) & (wrote if wrote is not None else Q())
    return {
        "conversation_status": Case(When(again, then=Value(Customer.ConversationStatus.OPEN)),
                                    default=F("conversation_status")),
        "snoozed_until": Case(When(again, then=Value(None, output_field=DateTimeField())),
                              default=F("snoozed_until")),
    }


def _touch_one(customer: Customer, message: InboundMessage, name: str | None,
               to_wa_id: str | None) -> None:
    """Record a customer's latest message; an older one changes nothing.

    The conditions are evaluated by the database on the row it updates, so a concurrent delivery
    of a newer message is never overwritten by an older one.
    """
    changes: dict[str, object] = {"name": _fill_name(name)} if name else {}
    changes.update(
        last_message_at=message.timestamp,
        last_interaction_time=message.timestamp,
        last_message_type=message.type[:50],
        **_inbound(message, to_wa_id),
        **(_reopen() if message.opens_window else {}),
    )
    if not Customer.objects.filter(pk=customer.pk).filter(_newer(message)).update(
            **changes) and message.opens_window:
        # Our reply is newer than this (late) message: it still opens the 24-hour window.
        Customer.objects.filter(pk=customer.pk).filter(
            Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=message.timestamp)
        ).update(**_inbound(message, to_wa_id), **_reopen())


# The same as _touch_one for many customers in one statement (PostgreSQL): `v` holds each
# customer's latest message; every condition is evaluated on the row the UPDATE changes.
TOUCH_MANY = """
UPDATE customers AS c SET
    name = CASE WHEN v.name IS NOT NULL AND coalesce(c.name, '') = '' THEN v.name ELSE c.name END,
    last_message_at = CASE WHEN v.newer THEN v.at ELSE c.last_message_at END,
    last_interaction_time = CASE WHEN v.newer THEN v.at ELSE c.last_interaction_time END,
    last_message_type = CASE WHEN v.newer THEN v.type ELSE c.last_message_type END,
    last_inbound_at = CASE WHEN v.wrote THEN v.at ELSE c.last_inbound_at END,
    business_number = CASE WHEN v.wrote THEN v.number ELSE c.business_number END,
    conversation_status = CASE WHEN v.opens AND c.conversation_status = ANY(%s)
                               THEN %s ELSE c.conversation_status END,
    snoozed_until = CASE WHEN v.opens AND c.conversation_status = ANY(%s)
                         THEN NULL ELSE c.snoozed_until END
FROM (
    SELECT r.id, r.at, r.type, r.name, r.number, r.opens,
           x.last_message_at IS NULL OR x.last_message_at <= r.at AS newer,
           r.opens AND (x.last_inbound_at IS NULL OR x.last_inbound_at < r.at) AS wrote
      FROM unnest(%s::uuid[], %s::timestamp[], %s::varchar[], %s::varchar[], %s::varchar[],
                  %s::boolean[]) AS r(id, at, type, name, number, opens)
      JOIN customers x ON x.id = r.id AND x.organization_id = %s
) AS v
WHERE c.organization_id = %s AND c.id = v.id
"""


def _touch(
    seen: Sequence[tuple[Customer, InboundMessage, str | None]], to_wa_id: str | None
) -> None:
    """Record each customer's latest message; an older one changes nothing."""
    connection = connections[router.db_for_write(Customer)]
    if connection.vendor != "postgresql" or len(seen) < 2:
        for customer, message, name in seen:  # SQLite (the demo): one writer, few customers
            _touch_one(customer, message, name, to_wa_id)
        return
    at = Customer._meta.get_field("last_message_at")
    reopened = [str(status) for status in REOPENED]
    organization_id = get_current_organization_id()
    # SQL of this module's own table and columns, for customers of the current organization
    # (looked up through the scoped manager); row-level security checks it like any other.
    with connection.cursor() as cursor:
        cursor.execute(TOUCH_MANY, [
            reopened, str(Customer.ConversationStatus.OPEN), reopened,
            [customer.pk for customer, _, _ in seen],
            [at.get_db_prep_value(m.timestamp, connection) for _, m, _ in seen],
            [m.type[:50] for _, m, _ in seen],
            [name or None for _, _, name in seen],
            [to_wa_id for _ in seen],
            [m.opens_window for _, m, _ in seen],
            organization_id, organization_id,
        ])


def customers_for(
    messages: Sequence[InboundMessage], names: dict[str, str | None], to_wa_id: str | None = None
) -> dict[str, Customer]:
    """The conversations' customers by wa_id (a group's by its id), created where missing,
    their last message recorded."""
    latest = _latest_by_sender(messages)
    found = {
        c.wa_id: c
        for c in Customer.objects.filter(wa_id__in=list(latest)).only(*CUSTOMER_COLUMNS).order_by()
    }
    missing = [wa_id for wa_id in latest if wa_id not in found]
    created: set[uuid.UUID] = set()
    if missing:
        now = timezone.now()
        new = [
            Customer(
                wa_id=wa_id, name=None if latest[wa_id].group_id else names.get(wa_id),
                created_at=now, is_group=latest[wa_id].group_id is not None,
                last_message_at=latest[wa_id].timestamp,
                last_interaction_time=latest[wa_id].timestamp,
                last_message_type=latest[wa_id].type[:50],
                **_inbound(latest[wa_id], to_wa_id),
            )
            for wa_id in missing
        ]
        Customer.objects.bulk_create(new, ignore_conflicts=True)
        created = {c.pk for c in new}
        # Another delivery (or an agent) may have created some of them meanwhile: the rows in
        # the table win, and those are then updated like any existing customer.
        found.update(
            (c.wa_id, c)
            for c in Customer.objects.filter(wa_id__in=missing).only(*CUSTOMER_COLUMNS).order_by()
        )
    _touch([
        (customer, latest[wa_id], None if latest[wa_id].group_id else names.get(wa_id))
        for wa_id, customer in found.items()
        if customer.pk not in created
    ], to_wa_id)
    _open_windows(messages, latest, found, to_wa_id)
    return found


def _open_windows(messages: Sequence[InboundMessage], latest: dict[str, InboundMessage],
                  customers: dict[str, Customer], to_wa_id: str | None) -> None:
    """Where a conversation's latest message is not the customer writing (a deletion after a
    text, in one delivery), the latest one that is still opens the window (rare: a statement
    each)."""
    wrote = _latest_by_sender([m for m in messages if m.opens_window])
    for key, message in wrote.items():
        if latest[key].opens_window:
            continue  # recorded with the latest message already
        Customer.objects.filter(pk=customers[key].pk).filter(
            Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=message.timestamp)
        ).update(**_inbound(message, to_wa_id), **_reopen())


def _message_row(message: InboundMessage, customer: Customer, to_wa_id: str | None) -> Message:
    """The row of a customer's message, or of one the business sent from the Business app."""
    content = message.content
    echoed = message.to is not None
    return Message(
        customer=customer,
        message_id=message.wamid,
        from_wa_id=message.from_wa_id,
        to_wa_id=message.to if echoed else to_wa_id,
        type=message.type,
        body=content.body,
        timestamp=message.timestamp,
        sender_type=AGENT if echoed else "customer",
        group_id=message.group_id,
        media_id=content.media_id,
        caption=content.caption,
        filename=content.filename,
        mime_type=content.mime_type,
        latitude=content.latitude,
        longitude=content.longitude,
        raw_message=message.raw,
    )


def _catalog(messages: Sequence[InboundMessage]) -> dict[str, Product]:
    """The organization's own or shared products the carts name by SKU (its own first).

    The scoped manager (and row-level security) sees no other organization's product, so a cart
    naming one keeps its retailer id without a product: the customer's cart is stored, never
    refused (Meta would redeliver the whole batch on an error answer).
    """
    skus = {line.product_retailer_id for m in messages if m.content.order is not None
            for line in m.content.order.lines}
    found: dict[str, Product] = {}
    if not skus:
        return found
    for product in Product.objects.filter(sku__in=skus).order_by(
            F("organization_id").asc(nulls_last=True)):
        found.setdefault(product.sku, product)
    return found


def _orders(messages: Sequence[InboundMessage], customers: dict[str, Customer]) -> None:
    orders, items = [], []
    catalog = _catalog(messages)  # queried only when a message is a cart
    for message in messages:
        details = message.content.order
        if details is None:
            continue
        order = Order(
            customer=customers[message.customer_key], catalog_id=details.catalog_id,
            status="pending", timestamp=message.timestamp,
        )
        orders.append(order)
        items += [
            OrderItem(
                order=order, product=catalog.get(line.product_retailer_id),
                product_retailer_id=line.product_retailer_id, quantity=line.quantity,
                item_price=line.item_price, currency=line.currency,
                created_at=message.timestamp,
            )
            for line in details.lines
        ]
    if orders:
        Order.objects.bulk_create(orders)
        OrderItem.objects.bulk_create(items)


def _referrals(messages: Sequence[InboundMessage], customers: dict[str, Customer]) -> None:
    rows = [
        ReferrerTracking(
            customer=customers[m.customer_key], wa_id=m.from_wa_id, created_at=m.timestamp,
            message_id=m.wamid, source_url=m.referral.source_url,
            source_id=m.referral.source_id, source_type=m.referral.source_type,
            headline=m.referral.headline, body=m.referral.body,
            media_type=m.referral.media_type, ctwa_clid=m.referral.ctwa_clid,
        )
        for m in messages
        if m.referral is not None
    ]
    if rows:
        ReferrerTracking.objects.bulk_create(rows)


def store_messages(
    messages: Sequence[InboundMessage], names: dict[str, str | None], to_wa_id: str | None
) -> set[str]:
    """Store the messages not stored before (each once); return the wamids stored."""
    unique: dict[str, InboundMessage] = {}
    for message in messages:
        unique.setdefault(message.wamid, message)  # twice in one delivery: stored once
    lock_wamids(list(unique))
    stored = set(
        Message.objects.filter(message_id__in=list(unique))
        .order_by()
        .values_list("message_id", flat=True)
    )
    new = [message for wamid, message in unique.items() if wamid not in stored]
    if not new:
        return set()
    customers = customers_for(new, names, to_wa_id)
    rows = Message.objects.bulk_create(
        [_message_row(m, customers[m.customer_key], to_wa_id) for m in new]
    )
    events.publish(events.MESSAGE, customers=sorted({str(c.pk) for c in customers.values()}))
    amend(new)
    inbound = [(row, m) for row, m in zip(rows, new) if m.to is None]
    emit_each("message.received", [payloads.message_received(row, customers[m.customer_key])
                                   for row, m in inbound])
    _orders(new, customers)
    _referrals(new, customers)
    apply_keywords([m for m in new if m.to is None and m.group_id is None], customers)
    follow_system_changes(new, customers)
    # Automation answers after this commits, in a task: the webhook only stores. Never to the
    # business's own messages, nor to a group (automation writes to one customer).
    queue_after_commit(row.pk for row, m in inbound if row.pk is not None and m.group_id is None)
    return {message.wamid for message in new}
