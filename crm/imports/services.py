"""Importing contacts: every write of an import lives here.

A file is stored as a `contact_imports` row, then read, checked row by row in Python (numbers
normalised by `phonenumbers` in the organization's default country) and written set-based, one
multi-row INSERT ... ON CONFLICT per batch of settings.CONTACT_IMPORT_BATCH rows, each batch its
own transaction that also advances the progress. Existing customers (same wa_id) are updated,
never duplicated, and only where a value differs: a file imported twice changes nothing the
second time. Labels are created where missing and added (never removed); attributes are
checked by the organization's definitions (crm.contacts) and merged into the customer's. Small
files run in the request; larger ones in a Celery job (crm.imports.tasks).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from crm.contacts.attributes import clean_value
from crm.contacts.errors import ContactsError
from crm.contacts.services import check_label, labels_named
from crm.imports import portable, reading
from crm.imports.errors import ImportRefused
from crm.imports.phones import wa_id
from crm.models import AttributeDefinition, ContactImport, Organization
from tenancy.context import get_current_organization_id, tenant_context

REJECTED_KEPT = 1000  # rejected rows listed on the import (all are counted)


@dataclass
class Contact:
    """One accepted row: the customer's values as the file gives them."""

    wa_id: str
    name: str | None
    labels: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


def _definitions(columns: reading.Mapping) -> dict[str, AttributeDefinition]:
    """The definitions of the mapped attributes; ImportRefused naming an undefined one."""
    found = {d.key: d for d in AttributeDefinition.objects.filter(key__in=list(columns.attributes))}
    for key in columns.attributes:
        if key not in found:
            raise ImportRefused("mapping", f"attribute {key[:60]!r}: your organization has no "
                                "attribute with this key: define it first "
                                "(/api/v1/attribute-definitions/), or leave it out.")
    return found


def store_import(name: str, data: bytes, mapping: Any, fmt: str | None = None) -> ContactImport:
    """Check the file and the mapping (ImportRefused naming the field), and store the import."""
    reading.check_size(len(data))
    fmt = reading.file_format(name, fmt)
    header = next(reading.rows(data, fmt), None)
    if not header:
        raise ImportRefused("file", "The file is empty: its first row names the columns.")
    _definitions(reading.resolve(header, mapping))
    return ContactImport.objects.create(
        file_name=name.replace("\x00", "")[:255], file_format=fmt, data=data, mapping=mapping)


def start_import(name: str, data: bytes, mapping: Any, fmt: str | None = None) -> ContactImport:
    """Store the import (store_import) and run it: now when small, else queued for a worker.
    Returns the import."""
    contact_import = store_import(name, data, mapping, fmt)
    if len(data) <= settings.CONTACT_IMPORT_INLINE_BYTES:
        run_import(contact_import)
    else:
        transaction.on_commit(lambda: _queue(contact_import))
    contact_import.refresh_from_db()
    return contact_import


def _queue(contact_import: ContactImport) -> None:
    """Queue the job as the import's organization (on commit, whatever is active then)."""
    from crm.imports.tasks import run_import_job  # tasks import services: imported when used

    with tenant_context(contact_import.organization_id):
        run_import_job.delay(str(contact_import.pk))


def _read(contact_import: ContactImport, country: str) -> tuple[list[Contact], list[dict]]:
    """The accepted contacts (one per number: a later row wins) and every rejected row."""
    lines = reading.rows(bytes(contact_import.data or b""), contact_import.file_format)
    header = next(lines, [])
    columns = reading.resolve(header, contact_import.mapping)
    definitions = _definitions(columns)
    accepted: dict[str, Contact] = {}
    rejected: list[dict] = []
    for number, row in enumerate(lines, start=2):
        if not any(row):
            continue  # blank lines spreadsheets leave behind are not rows
        cells = row + [""] * (len(header) - len(row))
        digits, reason = wa_id(cells[columns.phone], country)
        if digits is None:
            rejected.append({"row": number, "reason": reason})
            continue
        try:
            labels = _labels(cells[columns.labels]) if columns.labels is not None else []
            attributes = {key: clean_value(definitions[key], cells[position])
                          for key, position in columns.attributes.items() if cells[position]}
        except ContactsError as error:
            rejected.append({"row": number, "reason": str(error)})
            continue
        accepted.pop(digits, None)  # keep file order of the row that wins
        accepted[digits] = Contact(
            wa_id=digits,
            name=(cells[columns.name] or None) if columns.name is not None else None,
            labels=labels, attributes=attributes,
        )
    return list(accepted.values()), rejected


def _labels(cell: str) -> list[str]:
    """Labels written in one cell, separated by commas or semicolons (ContactsError if one is
    malformed)."""
    seen: dict[str, str] = {}
    for name in cell.replace(";", ",").split(","):
        if name.strip():
            checked, _ = check_label(name)
            seen.setdefault(checked.lower(), checked)
    return list(seen.values())


def run_import(contact_import: ContactImport) -> list[str]:
    """Run a stored import to the end (the job's body); a refused file is marked failed.
    Returns the wa_ids of the accepted rows."""
    country = Organization.objects.get(pk=get_current_organization_id()).default_country
    ContactImport.objects.filter(pk=contact_import.pk).update(status=ContactImport.Status.RUNNING)
    try:
        contacts, rejected = _read(contact_import, country)
    except ImportRefused as error:
        ContactImport.objects.filter(pk=contact_import.pk).update(
            status=ContactImport.Status.FAILED, error=str(error), data=None,
            finished_at=timezone.now())
        return []
    ContactImport.objects.filter(pk=contact_import.pk).update(
        total_rows=len(contacts) + len(rejected), processed_rows=len(rejected),
        rejected_count=len(rejected), rejected=rejected[:REJECTED_KEPT])
    size = settings.CONTACT_IMPORT_BATCH
    for start in range(0, len(contacts), size):
        batch = contacts[start:start + size]
        with transaction.atomic():
            created, updated = write_batch(batch)
            label_batch(batch)
            _advance(contact_import, len(batch), created, updated)
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ContactImport.Status.DONE, data=None, finished_at=timezone.now())
    return [contact.wa_id for contact in contacts]


def _advance(contact_import: ContactImport, rows: int, created: int, updated: int) -> None:
    """Count a written batch into the import's progress (in the batch's transaction)."""
    if connection.vendor != "postgresql":
        portable.advance(contact_import, rows, created, updated)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE contact_imports SET processed_rows = processed_rows + %s, "
            "created_count = created_count + %s, updated_count = updated_count + %s, "
            "unchanged_count = unchanged_count + %s "
            "WHERE organization_id = %s AND id = %s",
            [rows, created, updated, rows - created - updated, get_current_organization_id(),
             contact_import.pk],
        )


def write_batch(contacts: Iterable[Contact]) -> tuple[int, int]:
    """Insert new customers and update changed ones, set-based; returns (created, updated)."""
    if connection.vendor != "postgresql":
        return portable.write_batch(contacts)
    params: list[Any] = [get_current_organization_id()]
    for contact in contacts:
        params += [contact.wa_id, contact.name, json.dumps(contact.attributes)]
    rows = (len(params) - 1) // 3
    if not rows:
        return 0, 0
    with connection.cursor() as cursor:
        # One statement per batch; only a differing name or attribute counts as (and is) an
        # update, so a second run of the same file writes nothing.
        cursor.execute(
            "INSERT INTO customers (id, organization_id, wa_id, name, attributes, created_at, "
            "customer_status) "
            "SELECT gen_random_uuid(), %s, v.wa_id, v.name, v.attributes, "
            "clock_timestamp() AT TIME ZONE 'utc', 'pending' FROM (VALUES "
            + ", ".join(["(%s::varchar, %s::varchar, %s::jsonb)"] * rows)
            + ") v (wa_id, name, attributes) "
            "ON CONFLICT (organization_id, wa_id) DO UPDATE SET "
            "name = coalesce(EXCLUDED.name, customers.name), "
            "attributes = customers.attributes || EXCLUDED.attributes "
            "WHERE (EXCLUDED.name IS NOT NULL AND customers.name IS DISTINCT FROM EXCLUDED.name) "
            "OR NOT customers.attributes @> EXCLUDED.attributes "
            "RETURNING (xmax = 0)",
            params,
        )
        results = cursor.fetchall()
    created = sum(1 for (is_new,) in results if is_new)
    return created, len(results) - created


def label_batch(contacts: list[Contact]) -> int:
    """Add the contacts' labels (created where missing), set-based; returns how many were new."""
    names = list({name.lower(): name for c in contacts for name in c.labels}.values())
    if not names:
        return 0
    ids = {label.name.lower(): label.pk for label in labels_named(names, create=True)}
    if connection.vendor != "postgresql":
        return portable.label_batch(contacts, ids)
    organization_id = get_current_organization_id()
    params: list[Any] = [organization_id]
    pairs = 0
    for contact in contacts:
        for name in contact.labels:
            params += [contact.wa_id, ids[name.lower()]]
            pairs += 1
    # One statement per batch; the organization condition is explicit on the customers joined.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customer_labels (id, organization_id, customer_id, label_id, created_at) "
            "SELECT gen_random_uuid(), %s, c.id, v.label_id, clock_timestamp() FROM (VALUES "
            + ", ".join(["(%s::varchar, %s::uuid)"] * pairs) + ") v (wa_id, label_id) "
            "JOIN customers c ON c.organization_id = %s AND c.wa_id = v.wa_id "
            "ON CONFLICT (organization_id, customer_id, label_id) DO NOTHING",
            [*params, organization_id],
        )
        return cursor.rowcount
