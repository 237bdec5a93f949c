"""Reading an uploaded CSV or XLSX file into rows of text, and the columns mapped to fields.

XLSX is read with openpyxl in read-only mode (rows streamed from the zip, not a whole workbook
in memory); with defusedxml installed openpyxl parses its XML safely (no entity expansion).
Files are refused above settings.CONTACT_IMPORT_MAX_BYTES and CONTACT_IMPORT_MAX_ROWS.
"""
from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from crm.imports.errors import ImportRefused
from crm.storable import PROBLEM, unstorable

FORMATS = ("csv", "xlsx")
# Header names recognised when the mapping does not name a field's column (lower case).
GUESSES = {
    "phone": ("phone", "phone number", "mobile", "mobile number", "number", "wa_id",
              "whatsapp", "whatsapp number", "contact"),
    "name": ("name", "full name", "customer", "customer name"),
    "labels": ("labels", "label", "tags", "tag"),
}


@dataclass(frozen=True)
class Mapping:
    """Column positions of each field in the file (attributes: key -> position)."""

    phone: int
    name: int | None = None
    labels: int | None = None
    attributes: dict[str, int] = field(default_factory=dict)


def file_format(name: str, declared: str | None = None) -> str:
    """csv or xlsx, from the declared format or the file's name."""
    guess = (declared or (name.rsplit(".", 1)[-1] if "." in name else "")).lower()
    if guess not in FORMATS:
        raise ImportRefused("file", "Upload a .csv or .xlsx file (or say which with format=csv "
                                    "or format=xlsx).")
    return guess


def check_size(size: int) -> None:
    """Refuse a file larger than the setting, saying the limit."""
    limit = settings.CONTACT_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportRefused("file", f"The file is {size:,} bytes; the limit is {limit:,}: split "
                                    "it into smaller files.")


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("file", "The CSV file is not UTF-8: save it as \"CSV UTF-8\" and "
                                    "upload it again.") from None
    yield from csv.reader(io.StringIO(text, newline=""))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed into a spreadsheet cell, such as 9876543210
    return str(value)


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise ImportRefused("file", "The file is not a readable XLSX workbook: save it again "
                                    "from your spreadsheet as .xlsx, or upload a CSV.") from None
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell(value) for value in row]
    finally:
        book.close()


def rows(data: bytes, fmt: str) -> Iterator[list[str]]:
    """The file's rows (the header first) as lists of text, at most the row limit."""
    source = _csv_rows(data) if fmt == "csv" else _xlsx_rows(data)
    limit = settings.CONTACT_IMPORT_MAX_ROWS + 1
    for number, row in enumerate(source, start=1):
        if number > limit:
            raise ImportRefused("file", f"The file has more than {limit - 1:,} rows: split it "
                                        "into smaller files.")
        yield [cell.replace("\x00", "").strip() for cell in row]


def _position(header: list[str], column: Any, what: str) -> int:
    names = [name.strip().lower() for name in header]
    if isinstance(column, str) and column.strip().lower() in names:
        return names.index(column.strip().lower())
    raise ImportRefused("mapping", f"{what}: the file has no column {str(column)[:100]!r}; its "
                                   f"columns are {', '.join(header)[:500]}.")


def _guess(header: list[str], field_name: str) -> int | None:
    names = [name.strip().lower() for name in header]
    return next((names.index(g) for g in GUESSES[field_name] if g in names), None)


def resolve(header: list[str], mapping: Any) -> Mapping:
    """The column of each field: as the mapping names them, else guessed from the header."""
    if not isinstance(mapping, dict):
        raise ImportRefused("mapping", 'Give the mapping as a JSON object, such as {"phone": '
                                       '"Mobile", "name": "Name", "attributes": {"city": "City"}}.')
    if unstorable(mapping):
        raise ImportRefused("mapping", f"The mapping {PROBLEM}: name the file's columns.")
    unknown = set(mapping) - {"phone", "name", "labels", "attributes"}
    if unknown:
        raise ImportRefused("mapping", f"Unknown field(s) {', '.join(sorted(unknown))[:200]}: "
                                       "map phone, name, labels and attributes.")
    found: dict[str, int | None] = {}
    for name in ("phone", "name", "labels"):
        column = mapping.get(name)
        found[name] = (_position(header, column, name) if column is not None
                       else _guess(header, name))
    if found["phone"] is None:
        raise ImportRefused("mapping", "Which column holds the phone number? Name it with "
                                       '{"phone": "<column>"}; the file\'s columns are '
                                       f"{', '.join(header)[:500]}.")
    attributes = mapping.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ImportRefused("mapping", 'Give attributes as {"<attribute key>": "<column>"}.')
    return Mapping(
        phone=found["phone"], name=found["name"], labels=found["labels"],
        attributes={str(key): _position(header, column, f"attribute {key}")
                    for key, column in attributes.items()},
    )
