"""A segment's filters: checked once (check_filters), then applied to customers (apply).

Filters (all optional, combined with AND): labels (the customer has any of them, names in any
case), attributes (each key equals the value, checked by the organization's attribute
definitions, so "3" finds the number 3), last_message_after / last_message_before (dates of
the customer's last message, UTC), source_ad (a click-to-WhatsApp ad id, or "any"), opted_out
(true: only customers who stopped marketing; false: only those who did not), has_ordered.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from crm.contacts.attributes import clean_value
from crm.contacts.errors import ContactsError
from crm.models import AttributeDefinition, Customer, CustomerLabel, Order, ReferrerTracking
from crm.segments.errors import InvalidFilter
from crm.storable import PROBLEM, unstorable

KNOWN = ("labels", "attributes", "last_message_after", "last_message_before", "source_ad",
         "opted_out", "has_ordered")


def _date(name: str, value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidFilter(f"{name}: give a date as YYYY-MM-DD.") from None


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or unstorable(value):
        raise InvalidFilter(f"{name}: give a text of at most 200 characters.")
    return value.strip()


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidFilter(f"{name}: give true or false.")
    return value


def _attributes(values: dict[Any, Any]) -> dict[str, Any]:
    """{key: value in its stored shape}; every key an attribute of the organization."""
    definitions = {d.key: d for d in AttributeDefinition.objects.filter(
        key__in=[key for key in values if isinstance(key, str)])}
    if unstorable(values):
        raise InvalidFilter(f"attributes: the value {PROBLEM}.")
    checked = {}
    for key, value in values.items():
        if key not in definitions:
            raise InvalidFilter(f"attributes: your organization has no attribute "
                                f"{str(key)[:60]!r}: define it first, or leave it out.")
        try:
            checked[key] = clean_value(definitions[key], value)
        except ContactsError as error:
            raise InvalidFilter(f"attributes.{error}") from None
    return checked


def check_filters(filters: Any) -> dict[str, Any]:
    """The filters in their normal form, or InvalidFilter naming the one that is wrong."""
    if not isinstance(filters, dict):
        raise InvalidFilter('Give the filters as a JSON object, such as {"labels": ["vip"]}.')
    unknown = set(filters) - set(KNOWN)
    if unknown:
        raise InvalidFilter(f"Unknown filter(s) {', '.join(sorted(map(str, unknown)))[:200]}: "
                            f"use {', '.join(KNOWN)}.")
    checked: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name == "labels":
            if not isinstance(value, list) or len(value) > 100:
                raise InvalidFilter("labels: give a list of label names.")
            checked[name] = [_text("labels", item) for item in value]
        elif name == "attributes":
            if not isinstance(value, dict) or len(value) > 50:
                raise InvalidFilter('attributes: give {"<key>": "<value>"}.')
            checked[name] = _attributes(value)
        elif name in ("last_message_after", "last_message_before"):
            checked[name] = _date(name, value)
        elif name == "source_ad":
            checked[name] = _text(name, value)
        else:
            checked[name] = _flag(name, value)
    return checked


def apply(customers: QuerySet[Customer], filters: dict[str, Any]) -> QuerySet[Customer]:
    """The customers matching checked filters."""
    condition = Q()
    if filters.get("labels"):
        condition &= Exists(CustomerLabel.objects.filter(customer=OuterRef("pk")).annotate(
            lower=Lower("label__name")).filter(lower__in=[n.lower() for n in filters["labels"]]))
    if filters.get("attributes"):
        condition &= Q(attributes__contains=filters["attributes"])
    if "last_message_after" in filters:
        condition &= Q(last_message_at__date__gte=filters["last_message_after"])
    if "last_message_before" in filters:
        condition &= Q(last_message_at__date__lt=filters["last_message_before"])
    if "opted_out" in filters:
        condition &= Q(marketing_opt_out_at__isnull=not filters["opted_out"])
    if "has_ordered" in filters:
        ordered = Exists(Order.objects.filter(customer=OuterRef("pk")))
        condition &= ordered if filters["has_ordered"] else ~ordered
    if "source_ad" in filters:
        referrals = ReferrerTracking.objects.filter(customer=OuterRef("pk"))
        if filters["source_ad"] != "any":
            referrals = referrals.filter(source_id=filters["source_ad"])
        condition &= Exists(referrals)
    return customers.filter(condition)
