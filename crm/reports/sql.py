"""Run the reports' SQL as the active organization (PostgreSQL: the roll-ups are its triggers').

The SQL names the organization itself (the indexes lead with it); the row-level security
policies scope the same statements too.
"""
from __future__ import annotations

from typing import Any

from django.db import connections, router

from crm.models import Message
from crm.reports.errors import ReportsNeedPostgreSQL
from tenancy.context import get_current_organization_id


def organization_id() -> Any:
    """The active organization's id; the reports' SQL filters on it explicitly."""
    organization = get_current_organization_id()
    assert organization is not None, "reports run inside tenant_context()"
    return organization


def rows(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """The rows of one statement of the reports' own SQL."""
    connection = connections[router.db_for_read(Message)]
    if connection.vendor != "postgresql":
        raise ReportsNeedPostgreSQL()
    # Our own SQL over tenant tables, each filtered by organization_id (and by the policies).
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": organization_id(), **(params or {})})
        return cursor.fetchall() if cursor.description else []
