"""What contacts reads: a customer's labels, attributes and notes, the contact panel around a
conversation, and the label / status / mention filters of the conversation and customer lists."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from crm.contacts.errors import ContactsError
from crm.storable import unstorable
from crm.models import (
    AttributeDefinition,
    ConversationNote,
    Customer,
    CustomerLabel,
    JobStatus,
    Label,
    Lead,
    Order,
    ReferrerTracking,
)

Status = Customer.ConversationStatus
PANEL_ROWS = 5  # the latest orders, leads and campaigns the panel lists
MATCHES = ("any", "all")
MOST_FILTER_LABELS = 20


def labels_of(customer: Customer) -> list[Label]:
    """The customer's labels, by name."""
    return list(Label.objects.filter(customer_links__customer=customer).order_by("name", "id"))


def all_labels() -> list[Label]:
    """The organization's labels, by name."""
    return list(Label.objects.order_by("name", "id"))


def labels_by_customer(customer_ids: list[Any]) -> dict[Any, list[Label]]:
    """{customer id: labels} for a page of customers, in one query."""
    found: dict[Any, list[Label]] = defaultdict(list)
    links = (CustomerLabel.objects.filter(customer_id__in=customer_ids).select_related("label")
             .order_by("label__name", "label_id"))
    for link in links:
        found[link.customer_id].append(link.label)
    return found


def attributes_of(customer: Customer) -> list[tuple[AttributeDefinition, Any]]:
    """Each of the organization's attribute definitions with the customer's value (or None)."""
    values = customer.attributes or {}
    return [(definition, values.get(definition.key))
            for definition in AttributeDefinition.objects.order_by("key", "id")]


def notes_of(customer: Customer) -> list[ConversationNote]:
    """The team's notes on the conversation, oldest first."""
    return list(ConversationNote.objects.filter(customer=customer).select_related("author")
                .order_by("created_at", "id"))


@dataclass
class Panel:
    """The contact panel beside a conversation: who the customer is and what they did."""

    labels: list[Label]
    all_labels: list[Label]
    attributes: list[tuple[AttributeDefinition, Any]]
    notes: list[ConversationNote]
    orders: list[Order] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    campaigns: list[JobStatus] = field(default_factory=list)
    source: ReferrerTracking | None = None


def panel(customer: Customer) -> Panel:
    """The panel's rows, each list the latest few (rows follow their customer's visibility)."""
    return Panel(
        labels=labels_of(customer),
        all_labels=all_labels(),
        attributes=attributes_of(customer),
        notes=notes_of(customer),
        orders=list(Order.objects.filter(customer=customer).order_by("-timestamp", "-id")
                    .annotate(item_count=Count("items"))[:PANEL_ROWS]),
        leads=list(Lead.objects.filter(customer=customer).order_by("-created_at", "-id")
                   [:PANEL_ROWS]),
        campaigns=list(JobStatus.objects.filter(customer=customer)
                       .select_related("job__campaign").order_by("-updated_at")[:PANEL_ROWS]),
        source=ReferrerTracking.objects.filter(customer=customer).filter(
            Q(source_id__isnull=False) | Q(headline__isnull=False)).order_by(
            "-created_at", "-id").first(),
    )


def label_filter(params: Any) -> tuple[tuple[str, ...], str]:
    """(names, match) of ?label=<name>&label=...&match=any|all; else ContactsError."""
    names = tuple(name.strip() for name in params.getlist("label") if name.strip())
    if len(names) > MOST_FILTER_LABELS or any(
            len(name) > 50 or unstorable(name) for name in names):
        raise ContactsError("label", f"give at most {MOST_FILTER_LABELS} label names of at "
                            "most 50 characters.")
    match = params.get("match", "any") or "any"
    if match not in MATCHES:
        raise ContactsError("match", "give any or all.")
    return names, match


@dataclass(frozen=True)
class ContactFilters:
    """The lists' contact filters: labels (any or all of them), status, notes mentioning me."""

    labels: tuple[str, ...] = ()
    match: str = "any"
    status: str = ""
    mentions: bool = False

    @classmethod
    def from_params(cls, params: Any) -> ContactFilters:
        """Read ?label=<name>&label=...&match=any|all&status=<status>&mentions=1."""
        names, match = label_filter(params)
        status = params.get("status", "")
        if status and status not in Status.values:
            raise ContactsError("status", f"give one of {', '.join(Status.values)}.")
        mentions = params.get("mentions", "").lower()
        if mentions not in ("", "0", "1", "true", "false"):
            raise ContactsError("mentions", "use 1 or 0")
        return cls(labels=names, match=match, status=status,
                   mentions=mentions in ("1", "true"))


def filtered(customers: QuerySet[Customer], filters: ContactFilters, user: Any
             ) -> QuerySet[Customer]:
    """`customers` that pass the contact filters."""
    if filters.status:
        customers = customers.filter(conversation_status=filters.status)
    if filters.labels:
        customers = has_labels(customers, filters.labels, filters.match)
    if filters.mentions:
        me = str(getattr(user, "pk", "") or "")
        customers = customers.filter(Exists(ConversationNote.objects.filter(
            customer=OuterRef("pk"), mentions__contains=[me])))
    return customers


def has_labels(customers: QuerySet[Customer], names: tuple[str, ...] | list[str], match: str
               ) -> QuerySet[Customer]:
    """Customers with any (or all) of the labels `names` (any case); a name the organization
    does not have matches no customer."""
    wanted = {name.lower() for name in names}
    ids = list(Label.objects.annotate(lower=Lower("name")).filter(lower__in=wanted)
               .values_list("pk", flat=True))
    if match == "all" and len(ids) < len(wanted):
        return customers.none()
    if match == "all":
        for pk in ids:
            customers = customers.filter(Exists(CustomerLabel.objects.filter(
                customer=OuterRef("pk"), label_id=pk)))
        return customers
    return customers.filter(Exists(CustomerLabel.objects.filter(
        customer=OuterRef("pk"), label_id__in=ids)))


def customer_has_labels(customer_id: Any, names: list[str], match: str) -> bool:
    """Whether the customer has any (or all) of the labels `names` (any case): automation's
    `labels` condition."""
    wanted = {name.lower() for name in names}
    found = set(CustomerLabel.objects.filter(customer_id=customer_id).annotate(
        lower=Lower("label__name")).filter(lower__in=wanted).values_list("lower", flat=True))
    return found == wanted if match == "all" else bool(found)
