"""Which conversations a user may see: one rule, read by the API, the admin, the inbox and media.

With the organization's `agents_see_all` off, an AGENT works only the customers assigned to them
(`customers.user`). Every row about a customer (messages, their media, orders, addresses, ...)
follows its customer; history that names customers without a reliable link to one (logs,
campaign audiences) is not shown to such an agent at all. Hidden rows look missing (404), like
another organization's.
"""
from __future__ import annotations

from typing import Any

from django.db import models

from crm import models as crm
from crm.models import Customer, Organization, Role
from crm.roles import LOG_MODELS, role_of
from tenancy.context import get_current_organization_id

# How a table's rows reach the customer whose conversation they belong to (a lookup prefix).
CUSTOMER_PATHS: dict[type[models.Model], str] = {
    crm.Customer: "",
    crm.Message: "customer__",
    crm.CustomerAddress: "customer__",
    crm.AddressCollectionSession: "customer__",
    crm.ReferrerTracking: "customer__",
    crm.Lead: "customer__",
    crm.JobStatus: "customer__",
    crm.CampaignCustomer: "customer__",
    crm.Order: "customer__",
    crm.OrderItem: "order__customer__",
    crm.Payment: "order__customer__",
    crm.PaymentTransaction: "order__customer__",
    crm.CustomerLabel: "customer__",
    crm.ConversationNote: "customer__",
}
# Rows that name customers (a phone number, a wa_id, a request payload) with no key to one.
UNLINKED = frozenset({"campaignrecipient"}) | LOG_MODELS


def agents_limited(user: Any) -> bool:
    """Whether `user` is an agent of an organization that shows agents their own chats only."""
    if role_of(user) != Role.AGENT:
        return False
    organization = Organization.objects.filter(pk=get_current_organization_id()).only(
        "agents_see_all"
    ).first()
    return organization is not None and not organization.agents_see_all


def visible_rows(user: Any, rows: models.QuerySet) -> models.QuerySet:
    """`rows` without those of conversations `user` may not see."""
    model = rows.model
    if model not in CUSTOMER_PATHS and model._meta.model_name not in UNLINKED:
        return rows
    if not agents_limited(user):
        return rows
    if model in CUSTOMER_PATHS:
        return rows.filter(**{f"{CUSTOMER_PATHS[model]}user": user.pk})
    return rows.none()


def visible_customers(user: Any) -> models.QuerySet[Customer]:
    """The active organization's customers `user` may work (all, or an agent's assigned ones)."""
    return visible_rows(user, Customer.objects.all())


def visible_event(user: Any, event: dict[str, Any]) -> dict[str, Any] | None:
    """A live inbox event (crm.inbox.events) as `user` may receive it; None if it is not theirs.

    Events carry ids only, but even an id says when a hidden conversation moved. An assignment
    event names the users it concerns, so an agent who loses a conversation still hears of it.
    """
    kind = event.get("type")
    if kind == "message":
        shown = {str(pk) for pk in visible_customers(user).filter(
            pk__in=event.get("customers", [])).values_list("pk", flat=True)}
        customers = [pk for pk in event.get("customers", []) if pk in shown]
        return {**event, "customers": customers} if customers else None
    if kind == "conversation":
        concerned = str(user.pk) in event.get("users", []) or visible_customers(user).filter(
            pk=event.get("customer")).exists()
        return event if concerned else None
    if kind == "status":
        seen = visible_rows(user, crm.Message.objects.filter(message_id=event.get("message_id")))
        return event if seen.exists() else None
    return None
