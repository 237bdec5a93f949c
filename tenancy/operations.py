"""Migration operations of the tenant layer; every migration that adds a tenant table uses them.

    operations = [
        migrations.CreateModel(name="Thing", ...),
        EnableRowLevelSecurity("things"),
    ]

They change no model state and do nothing on databases other than PostgreSQL. Their SQL lives in
`tenancy.rls`, which keeps the same meaning for migrations already written.
"""
from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

from tenancy import rls


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
