"""Tenant tables are scoped in every query, not only in queries a tenant manager builds.

A query rooted at a model that is not a tenant model (Django admin's LogEntry joining `users`) and
the subqueries Django builds by itself (`exclude()` across a multi-valued relation) never pass
through TenantManager, so TenantScope is not in them. Every SQL compiler therefore adds, for
each tenant table such a query reads, the condition TenantScope would have added.
"""
from __future__ import annotations

from typing import Any

from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.where import AND, WhereNode

from tenancy.context import get_state
from tenancy.exceptions import TenantNotSetError
from tenancy.guards import python_scope

_original_pre_sql_setup = SQLCompiler.pre_sql_setup


def _has_tenant_scope(node: Any) -> bool:
    """True when TenantScope is in the WHERE tree: it scopes the root and joins itself."""
    from tenancy.models import TenantScope

    if isinstance(node, TenantScope):
        return True
    return any(_has_tenant_scope(child) for child in getattr(node, "children", ()))


def _scoped_pre_sql_setup(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
    result = _original_pre_sql_setup(self, *args, **kwargs)
    if not python_scope():  # the test mode where PostgreSQL's policies alone isolate
        return result
    from tenancy.models import table_conditions, tenant_aliases

    aliases = tenant_aliases(self.query, include_base=True)
    if not aliases or _has_tenant_scope(self.query.where):
        return result
    state = get_state()
    if state.unscoped:
        return result
    if state.organization_id is None:
        tables = ", ".join(sorted({self.query.alias_map[a].table_name for a in aliases}))
        raise TenantNotSetError(
            f"This query reads tenant tables ({tables}) and no organization is active: wrap the "
            "code in tenant_context(organization), or in unscoped() if it must cross "
            "organizations."
        )
    conditions = table_conditions(self.query, aliases, state.organization_id)
    if self.where is not None and self.where.children:
        conditions.insert(0, self.where)
    self.where = WhereNode(conditions, connector=AND)
    return result


def install() -> None:
    """Route every SQL compiler through the scoping above (once, from the app's ready())."""
    SQLCompiler.pre_sql_setup = _scoped_pre_sql_setup
