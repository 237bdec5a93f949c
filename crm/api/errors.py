"""API error responses: tenancy and integrity errors become clear 4xx answers."""
from __future__ import annotations

import logging
import re
from typing import Any

from django.apps import apps
from django.db import DatabaseError, IntegrityError, connection
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from crm.accounts.errors import AccountError
from tenancy.exceptions import CrossTenantError
from tenancy.rls import is_policy_violation

logger = logging.getLogger(__name__)

# The columns of a violated unique constraint, as PostgreSQL ("Key (a, b)=(...) already
# exists.") and SQLite ("UNIQUE constraint failed: table.a, table.b") report them.
_PG_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)=")
_SQLITE_KEY = re.compile(r"UNIQUE constraint failed: (?P<columns>.*)$")
# Never named: every row has it, and the caller does not choose it.
_IMPLIED = {"organization_id"}


def _constraint_columns(name: str | None) -> list[str]:
    """The columns of the unique index `name`, in order, from the catalog; [] if unknown."""
    if not name:
        return []
    try:
        # The catalog holds no tenant rows; the index's columns are all it reads.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE c.relname = %s ORDER BY array_position(i.indkey::int2[], a.attnum)",
                [name],
            )
            return [column for (column,) in cursor.fetchall()]
    except DatabaseError:  # e.g. inside a transaction the violation aborted
        return []


def unique_fields(exc: IntegrityError) -> list[str]:
    """The fields (not their values) of the unique constraint `exc` violated; [] if unknown."""
    diag = getattr(exc.__cause__, "diag", None)
    text = getattr(diag, "message_detail", None) or str(exc)
    match = _PG_KEY.search(text) or _SQLITE_KEY.search(text)
    if match is not None:
        qualified = [c.strip().strip('"') for c in match["columns"].split(",")]
    else:
        # Under row-level security PostgreSQL leaves out the key; the constraint names it.
        qualified = _constraint_columns(getattr(diag, "constraint_name", None))
        if not qualified:
            return []
    table = getattr(diag, "table_name", None) or qualified[0].rpartition(".")[0]
    columns = [c.rpartition(".")[2] for c in qualified]
    by_column = next(({f.column: f.name for f in model._meta.concrete_fields}
                      for model in apps.get_models() if model._meta.db_table == table), {})
    return [by_column.get(c, c) for c in columns if c not in _IMPLIED]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus CrossTenantError and row-level security refusals (403), account
    refusals (their status, naming the field), and IntegrityError (409 naming the fields)."""
    refused = isinstance(exc, DatabaseError) and is_policy_violation(exc)
    if refused:
        logger.warning("API write refused by row-level security: %s", exc)
    if isinstance(exc, CrossTenantError) or refused:
        # Reached only for rows the caller may read but not write, such as shared templates.
        return Response({"detail": "This record is read-only for your organization."},
                        status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, AccountError):
        body = {exc.field: [exc.message]} if exc.field else {"detail": exc.message}
        return Response(body, status=exc.status)
    if isinstance(exc, IntegrityError):
        logger.info("API write refused by a database constraint: %s", type(exc).__name__)
        fields = unique_fields(exc)
        if fields:
            names = ", ".join(fields)
            return Response({"detail": f"Another record already has this {names}: choose "
                             f"another {names}, or change that record.", "fields": fields},
                            status=status.HTTP_409_CONFLICT)
        return Response({"detail": "This conflicts with an existing record."},
                        status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
