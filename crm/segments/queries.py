"""Reads of segments: the customers a segment (or unsaved filters) selects, and their count."""
from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from crm.models import Customer, Segment
from crm.segments.filters import apply, check_filters
from crm.visibility import visible_rows


def members(filters: dict[str, Any], user: Any = None) -> QuerySet[Customer]:
    """The customers matching checked filters (those `user` sees, when given)."""
    customers = Customer.objects.all()
    if user is not None:
        customers = visible_rows(user, customers)
    return apply(customers, filters)


def segment_members(segment: Segment, user: Any = None) -> QuerySet[Customer]:
    """The segment's customers now (its filters checked again: definitions may have changed)."""
    return members(check_filters(segment.filters), user)


def count(filters: dict[str, Any], user: Any = None) -> dict[str, int]:
    """How many customers match, and how many of them opted out of marketing."""
    return members(filters, user).aggregate(
        count=Count("pk"), opted_out=Count("pk", filter=Q(marketing_opt_out_at__isnull=False)))
