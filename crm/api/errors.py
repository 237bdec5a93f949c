"""API error responses: tenancy and integrity errors become clear 4xx answers."""
from __future__ import annotations

import logging
import re
from typing import Any

from django.apps import apps
from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenancy.exceptions import CrossTenantError

logger = logging.getLogger(__name__)

# The columns of a violated unique constraint, as PostgreSQL ("Key (a, b)=(...) already
# exists.") and SQLite ("UNIQUE constraint failed: table.a, table.b") report them.
_PG_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)=")
_SQLITE_KEY = re.compile(r"UNIQUE constraint failed: (?P<columns>.*)$")
# Never named: every row has it, and the caller does not choose it.
_IMPLIED = {"organization_id"}


def unique_fields(exc: IntegrityError) -> list[str]:
    """The fields (not their values) of the unique constraint `exc` violated; [] if unknown."""
    diag = getattr(exc.__cause__, "diag", None)
    text = getattr(diag, "message_detail", None) or str(exc)
    match = _PG_KEY.search(text) or _SQLITE_KEY.search(text)
    if match is None:
        return []
    qualified = [c.strip().strip('"') for c in match["columns"].split(",")]
    table = getattr(diag, "table_name", None) or qualified[0].rpartition(".")[0]
    columns = [c.rpartition(".")[2] for c in qualified]
    by_column = next(({f.column: f.name for f in model._meta.concrete_fields}
                      for model in apps.get_models() if model._meta.db_table == table), {})
    return [by_column.get(c, c) for c in columns if c not in _IMPLIED]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus CrossTenantError (403) and IntegrityError (409 naming the fields)."""
    if isinstance(exc, CrossTenantError):
        # Reached only for rows the caller may read but not write, such as shared templates.
        return Response({"detail": "This record is read-only for your organization."},
                        status=status.HTTP_403_FORBIDDEN)
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
