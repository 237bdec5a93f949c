"""System checks: every model is classified, and tenant models keep their scoped managers."""
from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

from tenancy import rls
from tenancy.guards import is_tenant_model
from tenancy.models import TenantManager


@checks.register(checks.Tags.models)
def check_tenant_classification(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Each model of TENANCY_APPS is a TenantModel or on TENANCY_SHARED_MODELS, never both."""
    shared = set(getattr(settings, "TENANCY_SHARED_MODELS", []))
    errors: list[checks.CheckMessage] = []
    for label in sorted(shared):
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            errors.append(checks.Error(
                f"TENANCY_SHARED_MODELS names {label!r}, which is not an installed model.",
                hint="Remove it from TENANCY_SHARED_MODELS or fix the label (app_label.Model).",
                id="tenancy.E002",
            ))
            continue
        if is_tenant_model(model):
            errors.append(checks.Error(
                f"{label} is a TenantModel and also listed in TENANCY_SHARED_MODELS.",
                hint="A model is either tenant-scoped or shared: remove one of the two.",
                obj=model, id="tenancy.E003",
            ))
    for app_label in getattr(settings, "TENANCY_APPS", []):
        for model in apps.get_app_config(app_label).get_models():
            if model._meta.label in shared:
                continue
            if not is_tenant_model(model):
                errors.append(checks.Error(
                    f"{model._meta.label} is neither a TenantModel nor a shared model.",
                    hint="Inherit tenancy.models.TenantModel, or add it to TENANCY_SHARED_MODELS "
                    "if every organization may read and write all of its rows.",
                    obj=model, id="tenancy.E001",
                ))
            elif not (
                isinstance(model._default_manager, TenantManager)
                and isinstance(model._base_manager, TenantManager)
            ):
                errors.append(checks.Error(
                    f"{model._meta.label} must keep a TenantManager as default and base manager.",
                    hint="Declare other managers after `objects`, and subclass TenantManager; "
                    "keep Meta.base_manager_name = 'objects'.",
                    obj=model, id="tenancy.E004",
                ))
    return errors


def rls_problems(cursor: Any, tables: dict[str, bool]) -> list[str]:
    """What keeps each of `tables` (name: has shared rows) from being bound by its policies.

    Tables not created yet (migrate not run) are skipped: Django reports unapplied migrations.
    """
    cursor.execute(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "array(SELECT polname::text FROM pg_policy WHERE polrelid = c.oid) "
        "FROM pg_class c WHERE c.relkind = 'r' AND c.relname = ANY(%s) "
        "AND pg_table_is_visible(c.oid)",
        [list(tables)],
    )
    problems = []
    for table, enabled, forced, policies in cursor.fetchall():
        missing = sorted(rls.expected_policies(tables[table]) - set(policies))
        if not (enabled and forced) or missing:
            problems.append(
                f"{table}: row level security {'enabled' if enabled else 'DISABLED'}, "
                f"{'forced' if forced else 'NOT FORCED'}, missing policies {missing or 'none'}"
            )
    return problems


def bypass_reasons(cursor: Any) -> list[str]:
    """Why the connected role would not be bound by the tenant policies (empty: it is)."""
    cursor.execute(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    superuser, bypassrls = cursor.fetchone()
    reasons = ["it is a superuser"] if superuser else []
    if bypassrls:
        reasons.append("it has BYPASSRLS")
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
        "WHERE rolname = current_user) AND relrowsecurity AND NOT relforcerowsecurity "
        "AND pg_table_is_visible(oid) ORDER BY relname"
    )
    unforced = [name for (name,) in cursor.fetchall()]
    if unforced:
        reasons.append(f"it owns {', '.join(unforced)} without FORCE ROW LEVEL SECURITY")
    return reasons


# Not tagged "database": a plain `manage.py check` (and runserver) must say it too.
@checks.register("tenancy")
def check_row_level_security(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """On PostgreSQL: every tenant table is under its policies, and the server role is bound."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return []  # SQLite: the Python layer alone (README, "The tenant layer")
    tables = {
        model._meta.db_table: model.shared_rows for model in apps.get_models()
        if is_tenant_model(model)
    }
    try:
        with connection.cursor() as cursor:
            problems = rls_problems(cursor, tables)
            reasons = bypass_reasons(cursor)
    except OperationalError as error:
        return [checks.Warning(
            f"Could not check row-level security: {error}".strip(),
            hint="Start PostgreSQL (DATABASE_URL) and run `manage.py check` again.",
            id="tenancy.W010",
        )]
    messages: list[checks.CheckMessage] = [checks.Warning(
        f"Tenant table without its row-level security: {problem}.",
        hint="Add tenancy.operations.EnableRowLevelSecurity(table) to the migration that creates "
        "the table, then run migrate.",
        id="tenancy.W011",
    ) for problem in problems]
    if reasons:
        messages.append(checks.Warning(
            f"The database role {connection.settings_dict['USER']!r} bypasses row-level security: "
            f"{'; '.join(reasons)}. Only the Python layer isolates organizations.",
            hint="Serve as a role that is no superuser, has no BYPASSRLS and owns no tables: "
            "`manage.py tenancy_roles --owner OWNER --app APP`, then DATABASE_URL with APP.",
            id="tenancy.W012",
        ))
    return messages
