"""Writes of segments from the product page (the API saves through its serializer)."""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from crm.models import Segment
from crm.segments.errors import InvalidFilter


def save(name: str, filters: dict[str, Any], segment: Segment | None = None) -> Segment:
    """Create or change a segment of the active organization; its name must be its own."""
    segment = segment or Segment()
    segment.name, segment.filters = name.strip(), filters
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise InvalidFilter(f"name: your organization already has a segment named "
                            f"{segment.name!r}: choose another name.") from None
    return segment
