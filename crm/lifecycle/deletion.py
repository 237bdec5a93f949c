"""An organization's deletion: every row of every tenant table, in batches, children before
parents (crm.lifecycle.tables), then its media files and the organization itself.

Each batch is its own transaction, so a large organization is deleted without one huge
transaction; an interrupted run is simply run again.
"""
from __future__ import annotations

from collections.abc import Callable

from django.core.files.storage import default_storage
from django.db import models, transaction

from crm.lifecycle.tables import key_order, media_files, of_organization
from crm.models import Organization
from tenancy.context import tenant_context

BATCH = 1000


def counts(organization: Organization) -> dict[str, int]:
    """Rows per tenant table (deletion order) and media files that deleting would remove."""
    with tenant_context(organization):
        found = {model._meta.db_table: of_organization(model, organization.pk).count()
                 for model in reversed(key_order()[0])}
        found["media files"] = sum(1 for _ in media_files(organization.pk))
    return found


def delete_organization(organization: Organization, batch: int = BATCH,
                        progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Delete everything of `organization`; rows deleted per table (and media files)."""
    deleted: dict[str, int] = {}
    with tenant_context(organization):
        for field in key_order()[1]:  # cycles: clear the nullable keys that close them first
            _in_batches(of_organization(field.model, organization.pk)
                        .exclude(**{field.attname: None}),
                        batch, lambda rows, f=field: rows.update(**{f.attname: None}))
        for model in reversed(key_order()[0]):
            table = model._meta.db_table
            deleted[table] = _in_batches(of_organization(model, organization.pk), batch,
                                         lambda rows: rows.delete()[0])
            if progress is not None:
                progress(table, deleted[table])
        files = list(media_files(organization.pk))
        for name in files:
            default_storage.delete(name)
        deleted["media files"] = len(files)
        Organization.objects.filter(pk=organization.pk).delete()
    return deleted


def _in_batches(rows: models.QuerySet, batch: int,
                act: Callable[[models.QuerySet], int]) -> int:
    """Apply `act` to `rows` a batch of keys at a time, each in its own transaction."""
    done = 0
    while True:
        with transaction.atomic():
            keys = list(rows.order_by().values_list("pk", flat=True)[:batch])
            if not keys:
                return done
            if not act(rows.model._base_manager.filter(pk__in=keys)):
                raise RuntimeError(f"{rows.model._meta.db_table}: a batch changed nothing; "
                                   "its rows are out of reach (row-level security?).")
        done += len(keys)
