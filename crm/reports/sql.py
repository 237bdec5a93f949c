"""Run the reports' SQL as the active organization (PostgreSQL: the roll-ups are its triggers').

The SQL names the organization itself (the indexes lead with it); the row-level security
policies scope the same statements too.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.db import connections, router, transaction

from crm.models import Message
from crm.reports.errors import ReportsNeedPostgreSQL
from tenancy.context import get_current_organization_id


def organization_id() -> Any:
    """The active organization's id; the reports' SQL filters on it explicitly."""
    organization = get_current_organization_id()
    assert organization is not None, "reports run inside tenant_context()"
    return organization


SORT_MEMORY = "64MB"  # a year of resolutions sorts in memory for its percentiles


def rows(sql: str, params: dict[str, Any] | None = None, *,
         sorts: bool = False) -> list[tuple[Any, ...]]:
    """The rows of one statement of the reports' own SQL (`sorts`: with more sort memory)."""
    connection = connections[router.db_for_read(Message)]
    if connection.vendor != "postgresql":
        raise ReportsNeedPostgreSQL()
    # Our own SQL over tenant tables, each filtered by organization_id (and by the policies).
    scope = transaction.atomic(using=connection.alias) if sorts else nullcontext()
    with scope, connection.cursor() as cursor:
        if sorts:  # for this transaction only
            cursor.execute("SELECT set_config('work_mem', %s, true)", [SORT_MEMORY])
        cursor.execute(sql, {"org": organization_id(), **(params or {})})
        return cursor.fetchall() if cursor.description else []
