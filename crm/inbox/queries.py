"""What the inbox reads: the conversation list and a conversation's thread, per organization.

The list is one query over `customers` walking the tenant-leading activity index
(organization, last_message_at DESC, id DESC), with the unread count and the last message's id
as correlated subqueries over `messages` (organization, customer, timestamp) for the page's rows
only; the page's last messages are then read in one more query. Pages are keyset cursors (no
COUNT over the organization's customers).
"""
from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from crm.contacts import queries as contacts
from crm.contacts.errors import ContactsError
from crm.inbox import search
from crm.models import Customer, Message, QuickReply
from crm.visibility import visible_customers

INBOUND = "customer"  # messages.sender_type of what customers write
WINDOW = timedelta(hours=24)  # Meta's customer service window after a customer's message
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class BadRequest(ValueError):
    """A malformed filter or cursor; the message says how to fix it."""


@dataclass(frozen=True)
class Filters:
    """The conversation list's filters (all optional, combined with AND)."""

    mine: bool = False
    unassigned: bool = False
    waiting: bool = False
    number: str = ""  # digits of a business number
    search: str = ""
    contact: contacts.ContactFilters = contacts.ContactFilters()  # labels, status, mentions

    @classmethod
    def from_params(cls, params: Any) -> Filters:
        """Read ?mine=1&unassigned=1&waiting=1&number=<digits>&q=<text>, and the contact
        filters ?label=<name>&match=any|all&status=<status>&mentions=1 (from a QueryDict)."""
        number = params.get("number", "").strip()
        digits = "".join(ch for ch in number if ch.isdigit())
        if number and not digits:
            raise BadRequest("number: give the business number's digits, e.g. number=918000000000")
        search = params.get("q", "").strip()
        if "\x00" in search:  # PostgreSQL refuses NUL in a text parameter
            raise BadRequest("q: remove the NUL character (%00) from the search")
        try:
            contact = contacts.ContactFilters.from_params(params)
        except ContactsError as error:
            raise BadRequest(str(error)) from None
        return cls(
            mine=_flag(params, "mine"), unassigned=_flag(params, "unassigned"),
            waiting=_flag(params, "waiting"), number=digits, search=search, contact=contact,
        )


def _flag(params: Any, name: str) -> bool:
    value = params.get(name, "").lower()
    if value not in ("", "0", "1", "true", "false"):
        raise BadRequest(f"{name}: use 1 or 0")
    return value in ("1", "true")


@dataclass
class Conversation:
    """One row of the list: a customer, its last message and its state."""

    customer: Customer
    unread: int
    last_message: Message | None
    labels: list[Any] = field(default_factory=list)

    @property
    def waiting(self) -> bool:
        """The customer wrote last: they wait for our reply."""
        return is_waiting(self.customer)


@dataclass
class Page:
    """A page of conversations and the cursor of the next one (None on the last page)."""

    conversations: list[Conversation]
    next_cursor: str | None = None
    filters: Filters = field(default_factory=Filters)


def is_waiting(customer: Customer) -> bool:
    """The customer's message is the conversation's latest."""
    return customer.last_inbound_at is not None and (
        customer.last_message_at is None or customer.last_inbound_at >= customer.last_message_at
    )


def window_left(customer: Customer, now: datetime | None = None) -> timedelta:
    """How long free-form messages may still be sent (zero: templates only)."""
    if customer.last_inbound_at is None:
        return timedelta(0)
    return max(customer.last_inbound_at + WINDOW - (now or timezone.now()), timedelta(0))


def remaining(delta: timedelta) -> str:
    """A duration as the composer shows it: "3 h 05 min"."""
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _unread() -> Subquery:
    newer = Message.objects.filter(
        customer=OuterRef("pk"), sender_type=INBOUND,
        timestamp__gt=Coalesce(OuterRef("last_read_at"), EPOCH),
    )
    return Subquery(newer.order_by().values("customer").annotate(n=Count("*")).values("n")[:1])


def _last_message_id() -> Subquery:
    latest = Message.objects.filter(customer=OuterRef("pk")).order_by("-timestamp", "-id")
    return Subquery(latest.values("id")[:1])


def encode_cursor(customer: Customer) -> str:
    """The position after `customer` in the list's order."""
    raw = f"{customer.last_message_at.isoformat()}|{customer.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """(last_message_at, id) of a cursor from `encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, pk = raw.partition("|")
        moment = parse_datetime(at)
        if moment is None:
            raise ValueError(at)
        return moment, uuid.UUID(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise BadRequest("cursor: pass the next cursor of a previous page unchanged") from error


def page_queryset(
    user: Any, filters: Filters = Filters(), cursor: str | None = None,
    page_size: int = PAGE_SIZE,
) -> QuerySet[Customer]:
    """The list's one query: a page (plus one row, to tell whether more follow)."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page_size: between 1 and {MAX_PAGE_SIZE}")
    customers = visible_customers(user).filter(last_message_at__isnull=False)
    if filters.mine:
        customers = customers.filter(user_id=user.pk)
    if filters.unassigned:
        customers = customers.filter(user__isnull=True)
    if filters.waiting:
        customers = customers.filter(last_inbound_at__gte=F("last_message_at"))
    if filters.number:
        customers = customers.filter(business_number=filters.number)
    if filters.search:
        customers = customers.filter(search.matching(filters.search))
    customers = contacts.filtered(customers, filters.contact, user)
    if cursor:
        at, pk = decode_cursor(cursor)
        customers = customers.filter(last_message_at__lte=at).exclude(
            last_message_at=at, id__gte=pk
        )
    newest_first: list[Any] = ["-last_message_at", "-id"]
    if filters.search:
        # The same order, written so the planner cannot walk the activity index: searches match
        # few customers, often old ones, and walking newest-first past every other customer to
        # find them is far slower than the trigram indexes (crm.0013) and a sort of the matches.
        newest_first[0] = Coalesce("last_message_at", "created_at").desc()
    return (
        customers.select_related("user")
        .annotate(unread=_unread(), last_id=_last_message_id())
        .order_by(*newest_first)[: page_size + 1]
    )


def conversations(
    user: Any, filters: Filters = Filters(), cursor: str | None = None,
    page_size: int = PAGE_SIZE,
) -> Page:
    """A page of the organization's conversations `user` may see, newest activity first."""
    rows = list(page_queryset(user, filters, cursor, page_size))
    more = len(rows) > page_size
    rows = rows[:page_size]
    last = Message.objects.in_bulk([row.last_id for row in rows if row.last_id])
    labels = contacts.labels_by_customer([row.pk for row in rows]) if rows else {}
    return Page(
        conversations=[
            Conversation(customer=row, unread=row.unread or 0, last_message=last.get(row.last_id),
                         labels=labels.get(row.pk, []))
            for row in rows
        ],
        next_cursor=encode_cursor(rows[-1]) if more else None,
        filters=filters,
    )


def conversation(user: Any, customer_id: Any) -> Customer | None:
    """One customer `user` may work, or None (missing, another organization's, not visible)."""
    try:
        pk = uuid.UUID(str(customer_id))
    except ValueError:
        return None
    return visible_customers(user).select_related("user").filter(pk=pk).first()


@dataclass
class ThreadItem:
    """A message of the thread with what the chat shows around it."""

    message: Message
    inbound: bool
    replied_to: Message | None = None
    reactions: list[str] = field(default_factory=list)
    new_day: bool = False


def thread(customer: Customer, limit: int = 100) -> list[ThreadItem]:
    """The customer's latest `limit` messages, oldest first, ready for the chat view.

    Reactions are shown on the message they react to (when it is on the page), replies with the
    message they answer: both found by wamid in one more query.
    """
    latest = list(
        Message.objects.filter(customer=customer).select_related("automation_rule")
        .order_by("-timestamp", "-id")[:limit]
    )
    latest.reverse()
    by_wamid = {m.message_id: m for m in latest if m.message_id}
    wanted = {_context_id(m) for m in latest} - set(by_wamid) - {None}
    if wanted:
        by_wamid.update(
            (m.message_id, m)
            for m in Message.objects.filter(customer=customer, message_id__in=wanted)
        )
    items: list[ThreadItem] = []
    index: dict[str, ThreadItem] = {}
    day = None
    for message in latest:
        target = _reaction_target(message)
        if target is not None and target in index:
            emoji = _object(_raw(message).get("reaction")).get("emoji")
            if emoji and isinstance(emoji, str):
                index[target].reactions.append(emoji)
            continue
        local_day = timezone.localdate(message.timestamp) if message.timestamp else None
        item = ThreadItem(
            message=message, inbound=message.sender_type == INBOUND,
            replied_to=by_wamid.get(_context_id(message) or ""), new_day=local_day != day,
        )
        day = local_day
        items.append(item)
        if message.message_id:
            index[message.message_id] = item
    return items


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _raw(message: Message) -> dict[str, Any]:
    """The message as received or sent; rows written before its shape was checked (or through
    the API) may hold any JSON, which the thread must still show."""
    return _object(message.raw_message)


def _wamid(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _context_id(message: Message) -> str | None:
    return _wamid(_object(_raw(message).get("context")).get("id"))


def _reaction_target(message: Message) -> str | None:
    if message.type != "reaction":
        return None
    return _wamid(_object(_raw(message).get("reaction")).get("message_id"))


def quick_replies() -> list[dict[str, str]]:
    """The organization's quick replies, each inserted in the composer by `/<shortcut>`."""
    return [
        {"shortcut": slugify(quick.title), "title": quick.title, "content": quick.content}
        for quick in QuickReply.objects.order_by("title").only("title", "content")
    ]
