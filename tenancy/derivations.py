"""How a tenant table's organization follows from another row: declared once per model.

Read by save-time derivation (inside `unscoped()`) and by `tenancy_audit`. The migration that
backfills legacy rows keeps its own frozen copy, since a migration must not change with the models.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.apps import apps

if TYPE_CHECKING:
    from django.db import models


class Derivation(Protocol):
    """One way to find a row's organization."""

    def organization_for(self, obj: models.Model) -> uuid.UUID | None:
        """Return the derived organization id, or None when this way finds none."""


@dataclass(frozen=True)
class FromParent:
    """The organization of the row that foreign key `field` points at."""

    field: str

    def organization_for(self, obj: models.Model) -> uuid.UUID | None:
        """Return the parent's organization (from the cached parent when there is one)."""
        field = obj._meta.get_field(self.field)
        value = getattr(obj, field.attname)
        if value is None:
            return None
        if field.is_cached(obj):
            parent = field.get_cached_value(obj)
            return parent.organization_id if parent is not None else None
        return (
            field.related_model._base_manager.filter(**{field.target_field.attname: value})
            .values_list("organization_id", flat=True)
            .first()
        )


@dataclass(frozen=True)
class FromMatch:
    """The organization shared by every `model` row whose `to_field` equals our `field`.

    Used where a plain value (a wa_id) links the rows. Ambiguous when the matching rows belong to
    several organizations, or to none: then nothing is derived. With `unless`, only applies while
    that foreign key is empty.
    """

    field: str
    model: str
    to_field: str
    unless: str | None = None

    def organization_for(self, obj: models.Model) -> uuid.UUID | None:
        """Return the one organization the matching rows agree on, or None."""
        value = getattr(obj, self.field)
        if value is None or (self.unless and getattr(obj, f"{self.unless}_id") is not None):
            return None
        found = set(
            apps.get_model(self.model)
            ._base_manager.filter(**{self.to_field: value})
            .values_list("organization_id", flat=True)
        )
        if len(found) == 1 and None not in found:
            return found.pop()
        return None
