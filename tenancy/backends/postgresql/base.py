"""Django's PostgreSQL backend, plus the session settings the tenant policies read.

Before a statement, when the tenant state differs from the one this session last received, one
`SELECT set_config(...)` brings the session in step: a round trip per change of organization on a
connection, never one per statement. A new connection (perhaps from a pool) and any rollback
(which undoes a set_config made inside the transaction or savepoint) make the session's state
unknown, so the next statement sends it again. A connection reused after a request never runs a
statement under that request's organization: the first statement of the next one resets it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.backends.postgresql import base

from tenancy.context import TenantState, get_state
from tenancy.rls import ORGANIZATION_SETTING, UNSCOPED_SETTING

# Transaction control runs as it is: in an aborted transaction nothing else may run first.
_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")
_SET = "SELECT set_config(%s, %s, false), set_config(%s, %s, false)"


def _transaction_control(sql: Any) -> bool:
    """True for SAVEPOINT, RELEASE and ROLLBACK (SQL may also be a psycopg2.sql.Composed)."""
    return isinstance(sql, str) and sql.startswith(_TRANSACTION_CONTROL)


class DatabaseWrapper(base.DatabaseWrapper):
    """A PostgreSQL connection whose session follows `tenant_context()` and `unscoped()`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant_session_state: TenantState | None = None  # None: unknown
        self.tenant_settings_sent = 0  # how many set_config round trips (tests, benchmarks)
        self.execute_wrappers.append(self._sync_tenant_settings)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        self.tenant_session_state = None
        return connection

    def _rollback(self) -> None:
        self.tenant_session_state = None
        super()._rollback()

    def _savepoint_rollback(self, sid: str) -> None:
        self.tenant_session_state = None
        super()._savepoint_rollback(sid)

    def _sync_tenant_settings(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        state = get_state()
        if state != self.tenant_session_state and not _transaction_control(sql):
            organization = "" if state.organization_id is None else str(state.organization_id)
            values = [ORGANIZATION_SETTING, organization,
                      UNSCOPED_SETTING, "on" if state.unscoped else "off"]
            # A cursor of its own: the statement's may be a named (server-side) cursor.
            with self.wrap_database_errors, self.connection.cursor() as cursor:
                cursor.execute(_SET, values)
            self.tenant_session_state = state
            self.tenant_settings_sent += 1
        return execute(sql, params, many, context)
