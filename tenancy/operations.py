"""Migration operations of the tenant layer; every migration that adds a tenant table uses them.

    operations = [
        migrations.CreateModel(name="Thing", ...),
        EnableRowLevelSecurity("things"),
    ]

They change no model state and do nothing on databases other than PostgreSQL. Their SQL lives in
`tenancy.rls`, which keeps the same meaning for migrations already written.
"""
from __future__ import annotations

import time
from typing import Any

from django.db import OperationalError, transaction
from django.db.migrations.operations.base import Operation

from tenancy import rls

# SQLSTATE of a lock not obtained within lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"


class _PostgresOnly(Operation):
    """An operation that runs SQL on PostgreSQL only and leaves the model state alone."""

    reversible = True
    reduces_to_sql = True

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def forwards_sql(self) -> list[str]:
        raise NotImplementedError

    def backwards_sql(self) -> list[str]:
        raise NotImplementedError

    def _run(self, schema_editor: Any, statements: list[str]) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        self._run(schema_editor, self.forwards_sql())

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        self._run(schema_editor, self.backwards_sql())


class InstallTenantFunctions(_PostgresOnly):
    """The SQL functions the policies call: wbcrm_current_org() and wbcrm_unscoped(), version 1
    (tenancy.rls.FUNCTIONS), what crm.0014 installed; ReplaceTenantFunctions brings later ones."""

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [], {}

    def forwards_sql(self) -> list[str]:
        return [rls.FUNCTIONS[1]]

    def backwards_sql(self) -> list[str]:
        return [rls.DROP_FUNCTIONS]

    def describe(self) -> str:
        return "Install the tenant row-level security functions"


class EnableRowLevelSecurity(_PostgresOnly):
    """ENABLE + FORCE row-level security on a tenant table, with the tenant policies.

    `version` (tenancy.rls.OWN_ROWS) defaults to 1, what crm.0014 and crm.0015 installed: a
    tenant table added later names the latest version, as a number, so its SQL never changes.
    """

    def __init__(self, table: str, shared_rows: bool = False, version: int = 1) -> None:
        self.table = table
        self.shared_rows = shared_rows
        self.version = version

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"shared_rows": True} if self.shared_rows else {}
        if self.version != 1:
            kwargs["version"] = self.version
        return self.__class__.__qualname__, [self.table], kwargs

    def forwards_sql(self) -> list[str]:
        return rls.enable_sql(self.table, self.shared_rows, self.version)

    def backwards_sql(self) -> list[str]:
        return rls.disable_sql(self.table)

    def describe(self) -> str:
        return f"Row-level security on {self.table}"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.table}_rls"


class ReplaceTenantPolicies(_PostgresOnly):
    """Replace a tenant table's policies of version `previous` with those of `version`."""

    def __init__(self, table: str, version: int, previous: int, shared_rows: bool = False) -> None:
        self.table = table
        self.version = version
        self.previous = previous
        self.shared_rows = shared_rows

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs = {"shared_rows": True} if self.shared_rows else {}
        return self.__class__.__qualname__, [self.table, self.version, self.previous], kwargs

    def forwards_sql(self) -> list[str]:
        return rls.policies_sql(self.table, self.shared_rows, self.version)

    def backwards_sql(self) -> list[str]:
        return rls.policies_sql(self.table, self.shared_rows, self.previous)

    def describe(self) -> str:
        return f"Tenant policies of {self.table}: version {self.previous} -> {self.version}"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.table}_policies_v{self.version}"


class ReplaceTenantFunctions(_PostgresOnly):
    """Replace the tenant functions of version `previous` with those of `version`."""

    def __init__(self, version: int, previous: int) -> None:
        self.version = version
        self.previous = previous

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [self.version, self.previous], {}

    def forwards_sql(self) -> list[str]:
        return [rls.FUNCTIONS[self.version]]

    def backwards_sql(self) -> list[str]:
        return [rls.FUNCTIONS[self.previous]]

    def describe(self) -> str:
        return f"Tenant row-level security functions: version {self.previous} -> {self.version}"

    @property
    def migration_name_fragment(self) -> str:
        return f"tenant_functions_v{self.version}"


class LockTablesFirst(Operation):
    """First operation of an atomic migration that changes several tables wb-crm writes: take
    every table's lock at once, retrying, before any other statement holds one.

    While wb-crm keeps writing during a takeover, an atomic migration that locks its tables one by
    one can deadlock with a wb-crm transaction writing them in the other order, and PostgreSQL
    then aborts one of the two. Here the locks are taken in one statement under a short lock
    timeout, inside a savepoint: when one is busy, everything taken is released and the statement
    tried again, so the migration never waits on a table while holding another. Missing tables
    are skipped; on other databases, or outside a transaction, it does nothing.
    """

    reversible = True
    reduces_to_sql = False
    # Each try waits at most TRY_TIMEOUT for a lock; TRIES of them (about a minute with the
    # pauses) before giving up with an error saying why.
    TRY_TIMEOUT = "200ms"
    TRIES = 200

    def __init__(self, *tables: str) -> None:
        self.tables = tables

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, list(self.tables), {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        self._lock(schema_editor)

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        self._lock(schema_editor)

    def describe(self) -> str:
        return f"Lock {', '.join(self.tables)} at once"

    def _lock(self, schema_editor: Any) -> None:
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or not connection.in_atomic_block:
            return
        # Catalog reads and table locks: no tenant rows are read or written here.
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute("SELECT t FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL",
                           [list(self.tables)])
            tables = [table for (table,) in cursor.fetchall()]
        if not tables:
            return
        statement = ("LOCK TABLE " + ", ".join(connection.ops.quote_name(t) for t in tables)
                     + " IN ACCESS EXCLUSIVE MODE")
        for attempt in range(self.TRIES):
            try:
                # LOCK TABLE only: no tenant rows.
                with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('lock_timeout', %s, true)",
                                   [self.TRY_TIMEOUT])
                    cursor.execute(statement)
                    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
                return
            except OperationalError as error:
                if getattr(error.__cause__, "pgcode", None) != LOCK_NOT_AVAILABLE:
                    raise
            # Let the writers that took a lock first finish before the next try.
            time.sleep(min(0.05 * (attempt + 1), 0.3))
        raise OperationalError(
            f"could not lock {', '.join(tables)} together in {self.TRIES} tries: long "
            "transactions keep them busy. End them (pg_stat_activity) and run migrate again."
        )
