"""Contact imports on SQLite (the `bin/run` demo): what the PostgreSQL statements of
crm.imports.services do (one upsert per batch, labels, progress), through the ORM.

SQLite has no jsonb containment, gen_random_uuid or UPDATE ... RETURNING xmax, so a batch is
read, compared in Python and written back, inside the batch's own transaction (which holds
SQLite's write lock: nothing changes the rows meanwhile).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db.models import F
from django.utils import timezone

from crm.models import ContactImport, Customer, CustomerLabel

if TYPE_CHECKING:
    from crm.imports.services import Contact


def write_batch(contacts: Iterable[Contact]) -> tuple[int, int]:
    """Insert new customers and update changed ones; returns (created, updated)."""
    contacts = list(contacts)
    known = {customer.wa_id: customer for customer in Customer.objects.filter(
        wa_id__in=[contact.wa_id for contact in contacts])}
    now = timezone.now()
    new: dict[str, Customer] = {}
    changed: set[str] = set()
    for contact in contacts:
        customer = known.get(contact.wa_id) or new.get(contact.wa_id)
        if customer is None:
            new[contact.wa_id] = Customer(wa_id=contact.wa_id, name=contact.name,
                                          attributes=contact.attributes, created_at=now,
                                          customer_status="pending")
            continue
        attributes = {**(customer.attributes or {}), **contact.attributes}
        if (contact.name is not None and customer.name != contact.name) or (
                attributes != (customer.attributes or {})):
            customer.name = contact.name if contact.name is not None else customer.name
            customer.attributes = attributes
            changed.add(contact.wa_id)
    Customer.objects.bulk_create(new.values())
    for wa_id in changed - set(new):
        customer = known[wa_id]
        Customer.objects.filter(pk=customer.pk).update(name=customer.name,
                                                       attributes=customer.attributes)
    return len(new), len(changed - set(new))


def label_batch(contacts: list[Contact], ids: dict[str, uuid.UUID]) -> int:
    """Put the contacts' labels (`ids` by lower-case name) on their customers; how many new."""
    customers = dict(Customer.objects.filter(
        wa_id__in=[contact.wa_id for contact in contacts]).values_list("wa_id", "pk"))
    wanted = {(customers[contact.wa_id], ids[name.lower()])
              for contact in contacts if contact.wa_id in customers for name in contact.labels}
    on = CustomerLabel.objects.filter(customer_id__in={customer for customer, _ in wanted})
    known = set(on.values_list("customer_id", "label_id"))
    added = [CustomerLabel(customer_id=customer, label_id=label)
             for customer, label in sorted(wanted - known, key=str)]
    CustomerLabel.objects.bulk_create(added)
    return len(added)


def advance(contact_import: ContactImport, rows: int, created: int, updated: int) -> None:
    """Count a written batch into the import's progress."""
    ContactImport.objects.filter(pk=contact_import.pk).update(
        processed_rows=F("processed_rows") + rows, created_count=F("created_count") + created,
        updated_count=F("updated_count") + updated,
        unchanged_count=F("unchanged_count") + rows - created - updated)
