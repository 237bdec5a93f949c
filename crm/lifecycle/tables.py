"""Every tenant table, in key order (parents before children), found from the models themselves.

Export writes the tables in this order and deletion walks it backwards, so a tenant model added
later (anything inheriting TenantModel) is exported and deleted without being listed anywhere.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models

from tenancy.guards import is_tenant_model, tenant_foreign_keys


def tenant_models() -> list[type[models.Model]]:
    """Every tenant model of the project, by table name."""
    return sorted((m for m in apps.get_models() if is_tenant_model(m)),
                  key=lambda m: m._meta.db_table)


@cache
def key_order() -> tuple[tuple[type[models.Model], ...], tuple[models.ForeignKey, ...]]:
    """(models with parents first, the nullable keys left out to break cycles).

    A cycle (customers.default_address_id and customer_addresses.customer_id) can only be broken
    at a nullable key: deletion clears those keys first.
    """
    remaining = tenant_models()
    edges = {m: [f for f in tenant_foreign_keys(m) if f.related_model is not m] for m in remaining}
    ordered: list[type[models.Model]] = []
    broken: list[models.ForeignKey] = []
    while remaining:
        ready = [m for m in remaining
                 if all(f.related_model not in remaining for f in edges[m])]
        if not ready:  # a cycle: leave out one nullable key of it, then go on
            field = _nullable_key_in_cycle(remaining, edges)
            broken.append(field)
            edges[field.model].remove(field)
            continue
        ordered += ready
        remaining = [m for m in remaining if m not in ready]
    return tuple(ordered), tuple(broken)


def _nullable_key_in_cycle(remaining: list[type[models.Model]],
                           edges: dict[type[models.Model], list[models.ForeignKey]]
                           ) -> models.ForeignKey:
    """A nullable key on a cycle among `remaining` (each of which has a parent among them)."""
    path: list[models.ForeignKey] = []
    seen: list[type[models.Model]] = []
    model = remaining[0]
    while model not in seen:
        seen.append(model)
        field = next(f for f in edges[model] if f.related_model in remaining)
        path.append(field)
        model = field.related_model
    cycle = path[seen.index(model):]
    for field in cycle:
        if field.null:
            return field
    raise RuntimeError("Tenant tables whose keys form a cycle of NOT NULL keys: "
                       f"{[f.model._meta.db_table for f in cycle]}; make one of them nullable.")


def of_organization(model: type[models.Model], organization_id: Any) -> models.QuerySet:
    """The organization's own rows of `model` (never shared rows: their organization is NULL)."""
    return model._base_manager.filter(organization_id=organization_id)


def columns(model: type[models.Model]) -> list[str]:
    """The model's stored columns, by attribute name (a composite key's parts once each)."""
    return [f.attname for f in model._meta.concrete_fields if f.column]


MEDIA_FOLDERS = ("whatsapp-media", "organization-exports", "organization-logos")


def media_files(organization_id: Any) -> Iterator[str]:
    """The names of the organization's files in the default storage (media, past exports, logos)."""
    for folder in MEDIA_FOLDERS:
        yield from _walk(f"{folder}/{organization_id}")


def _walk(folder: str) -> Iterator[str]:
    try:
        directories, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield f"{folder}/{name}"
    for name in sorted(directories):
        yield from _walk(f"{folder}/{name}")
