"""Django's PostgreSQL backend, plus the session settings the tenant policies read.

Before a statement, when the tenant state differs from the one this session last received, a
`SELECT set_config(...)` brings the session in step, never one per statement. It travels in the
statement's own round trip (`SELECT set_config(...); <statement>`, one simple query) when the
statement is plain DML on an unnamed cursor; otherwise (server-side cursors, executemany, DDL and
commands a transaction block refuses, composed SQL) it takes a round trip of its own. A new
connection (perhaps from a pool), any rollback (which undoes a set_config made inside the
transaction or savepoint) and a failed statement make the session's state unknown, so the next
statement sends it again. A connection reused after a request never runs a statement under that
request's organization: the first statement of the next one resets it.
"""
from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

from django.db.backends.postgresql import base, operations

from tenancy.context import TenantState, get_state
from tenancy.rls import ORGANIZATION_SETTING, UNSCOPED_SETTING

# Transaction control runs as it is: in an aborted transaction nothing else may run first.
_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")
_SET = "SELECT set_config(%s, %s, false), set_config(%s, %s, false)"
# Statements the settings may precede in one simple query: a multi-statement query is one
# implicit transaction, which DDL such as CREATE INDEX CONCURRENTLY or VACUUM refuses.
_PREFIXABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
_PREFIX_START = f"SELECT set_config('{ORGANIZATION_SETTING}', "
_PREFIX_END = ", false); "


def _readable(fd: int) -> bool:
    """True when the socket has data (or end of file) to read right now."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _transaction_control(sql: Any) -> bool:
    """True for SAVEPOINT, RELEASE and ROLLBACK (SQL may also be a psycopg2.sql.Composed)."""
    return isinstance(sql, str) and sql.startswith(_TRANSACTION_CONTROL)


def _can_carry_settings(sql: Any, many: bool, context: dict[str, Any]) -> bool:
    """True for plain DML on an unnamed cursor, which the settings may precede."""
    return (not many and isinstance(sql, str)
            and sql.lstrip()[:6].upper().startswith(_PREFIXABLE)
            and getattr(context["cursor"].cursor, "name", None) is None)


def _settings_prefix(state: TenantState) -> str:
    """`SELECT set_config(...);` for `state`, its values written into the SQL.

    Safe as literals: the organization is a uuid.UUID (tenancy.context normalizes it), the flag
    'on' or 'off'; neither holds a quote or a `%` that parameter formatting would read.
    """
    organization = "" if state.organization_id is None else str(state.organization_id)
    unscoped = "on" if state.unscoped else "off"
    return (f"{_PREFIX_START}'{organization}', false), "
            f"set_config('{UNSCOPED_SETTING}', '{unscoped}'{_PREFIX_END}")


class DatabaseOperations(operations.DatabaseOperations):
    """Django's, except that logged statements leave out the settings sent with them."""

    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str | None:
        query = super().last_executed_query(cursor, sql, params)
        # The settings are counted in tenant_settings_sent; the log shows the statement.
        if query and query.startswith(_PREFIX_START):
            # A statement of its own may start the same way (a migration's set_config).
            _, found, statement = query.partition(_PREFIX_END)
            return statement if found else query
        return query


class DatabaseWrapper(base.DatabaseWrapper):
    """A PostgreSQL connection whose session follows `tenant_context()` and `unscoped()`."""

    ops_class = DatabaseOperations

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant_session_state: TenantState | None = None  # None: unknown
        self.tenant_settings_sent = 0  # how often set_config was sent (tests, benchmarks)
        self.execute_wrappers.append(self._sync_tenant_settings)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        self.tenant_session_state = None
        return connection

    def close_if_health_check_failed(self) -> None:
        """Django's check before a reused connection serves a request, without a round trip.

        An idle session receives nothing unasked (the app LISTENs to nothing), so a socket with
        something to read has been closed (PostgreSQL restarted, the backend terminated, an idle
        timeout): close it, and the request connects again. Django's own check sends SELECT 1,
        a round trip per request (the webhook accepted 7-10% fewer deliveries a second with it).
        """
        if (self.connection is None or not self.health_check_enabled
                or self.health_check_done):
            return
        if self.connection.closed or _readable(self.connection.fileno()):
            self.close()
        self.health_check_done = True

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
        if state == self.tenant_session_state or _transaction_control(sql):
            return execute(sql, params, many, context)
        self.tenant_settings_sent += 1
        if _can_carry_settings(sql, many, context):
            # Unknown until the statement succeeds: a failed one undoes the settings with it.
            self.tenant_session_state = None
            result = execute(_settings_prefix(state) + sql, params, many, context)
            self.tenant_session_state = state
            return result
        organization = "" if state.organization_id is None else str(state.organization_id)
        values = [ORGANIZATION_SETTING, organization,
                  UNSCOPED_SETTING, "on" if state.unscoped else "off"]
        # A cursor of its own: the statement's may be a named (server-side) cursor.
        with self.wrap_database_errors, self.connection.cursor() as cursor:
            cursor.execute(_SET, values)
        self.tenant_session_state = state
        return execute(sql, params, many, context)
