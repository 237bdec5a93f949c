"""Exports as CSV or XLSX, streamed: rows come from a server-side cursor in chunks and leave at
once (CSV) or go through openpyxl's write-only workbook into a temporary file that is then sent
in chunks (XLSX), so a 200,000-row export is never held in memory.

The generator outlives the view, so it activates the organization itself; the rows are those the
user may see (crm.visibility).
"""
from __future__ import annotations

import csv
import io
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum

from crm.models import AttributeDefinition, Customer, CustomerLabel, Lead, Message, Order
from crm.visibility import visible_rows
from tenancy.context import get_current_organization_id, tenant_context

CHUNK_ROWS = 2000  # rows fetched per round trip, and CSV rows per chunk sent
FILE_CHUNK = 64 * 1024
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# A spreadsheet reads a cell starting with these as a formula: exported text never is one.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    """What one export holds: the header and the rows as tuples (in the organization)."""

    name: str
    header: tuple[str, ...]
    rows: Callable[[], Iterable[tuple[Any, ...]]]


def _text(value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace("\x00", "")
        return "'" + value if value.startswith(FORMULA_START) else value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def customers(user: Any) -> Table:
    """The customers the user sees, with their labels and one column per attribute."""
    keys = list(AttributeDefinition.objects.order_by("key").values_list("key", flat=True))
    labels = Subquery(CustomerLabel.objects.filter(customer=OuterRef("pk")).order_by()
                      .values("customer").annotate(names=StringAgg(
                          "label__name", ", ", order_by="label__name")).values("names"))
    rows = visible_rows(user, Customer.objects.order_by("created_at", "id")).annotate(
        label_names=labels)
    columns = ("id", "wa_id", "name", "email", "customer_status", "conversation_status",
               "created_at", "last_message_at", "marketing_opt_out_at")

    def lines() -> Iterator[tuple[Any, ...]]:
        for *values, names, attributes in rows.values_list(
                *columns, "label_names", "attributes").iterator(chunk_size=CHUNK_ROWS):
            attributes = attributes or {}
            yield (*values, names or "", *(attributes.get(key) for key in keys))

    return Table("customers", (*columns, "labels", *keys), lines)


def conversation(user: Any, customer: Customer) -> Table:
    """One customer's messages, oldest first."""
    rows: QuerySet = visible_rows(user, Message.objects.filter(customer=customer))
    columns = ("timestamp", "sender_type", "type", "body", "caption", "filename",
               "delivery_status", "message_id")
    return Table(f"conversation-{customer.wa_id}", columns,
                 lambda: rows.order_by("timestamp", "id").values_list(*columns)
                 .iterator(chunk_size=CHUNK_ROWS))


def leads(user: Any) -> Table:
    """The organization's leads."""
    rows = visible_rows(user, Lead.objects.order_by("created_at", "id"))
    columns = ("id", "wa_id", "first_name", "last_name", "email", "phone", "city",
               "lead_source", "zoho_lead_id", "created_at")
    return Table("leads", columns,
                 lambda: rows.values_list(*columns).iterator(chunk_size=CHUNK_ROWS))


def orders(user: Any) -> Table:
    """The organization's orders, each with its customer, item count and total."""
    rows = visible_rows(user, Order.objects.order_by("timestamp", "id")).annotate(
        item_count=Count("items"), total=Sum("items__total_price"))
    columns = ("id", "customer__wa_id", "customer__name", "status", "timestamp",
               "payment_completed_at", "item_count", "total")
    return Table("orders", ("id", "wa_id", "name", "status", "timestamp",
                            "payment_completed_at", "items", "total"),
                 lambda: rows.values_list(*columns).iterator(chunk_size=CHUNK_ROWS))


def _csv(table: Table) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.header)
    pending = 0
    for row in table.rows():
        writer.writerow([_text(value) for value in row])
        pending += 1
        if pending == CHUNK_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


def _xlsx(table: Table) -> Iterator[bytes]:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.name[:31])
    sheet.append(table.header)
    for row in table.rows():
        sheet.append([_text(value) for value in row])
    with tempfile.TemporaryFile() as file:
        book.save(file)
        file.seek(0)
        while chunk := file.read(FILE_CHUNK):
            yield chunk


def stream(table: Table, fmt: str) -> Iterator[bytes]:
    """The file's bytes in chunks, read as the organization active now (kept while streaming)."""
    organization_id = get_current_organization_id()

    source = _csv(table) if fmt == "csv" else _xlsx(table)

    def chunks() -> Iterator[bytes]:
        # Active only while a chunk is made: between chunks the server's code runs as no one.
        while True:
            with tenant_context(organization_id):
                chunk = next(source, None)
            if chunk is None:
                return
            yield chunk

    return chunks()
