"""Row-level security on PostgreSQL: the session settings the policies read, and their SQL.

The policies compare each row's organization_id with the `wbcrm.organization_id` setting, and
let every row through when `wbcrm.unscoped` is on. `tenancy.backends.postgresql` keeps both in
step with `tenancy.context`; migrations install the policies with `tenancy.operations`.
"""
from __future__ import annotations

import os

ORGANIZATION_SETTING = "wbcrm.organization_id"
UNSCOPED_SETTING = "wbcrm.unscoped"
# The policy every tenant table carries, and the extra one of tables with shared rows.
ROWS_POLICY = "tenant_rows"
SHARED_READ_POLICY = "tenant_shared_read"
# SQLSTATE of a row refused by a policy, and of wbcrm_current_org() with no organization.
INSUFFICIENT_PRIVILEGE = "42501"

# wbcrm_current_org() raises when neither setting is set: a statement outside any organization
# fails instead of answering "no rows". Inside unscoped() it is NULL and never needed. A version
# per text, as for the policies: a migration names the version it installs.
FUNCTIONS = {
    # crm.0014: names resolved with the caller's search_path.
    1: f"""
CREATE OR REPLACE FUNCTION wbcrm_unscoped() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(current_setting('{UNSCOPED_SETTING}', true), '') = 'on'
$$;
CREATE OR REPLACE FUNCTION wbcrm_current_org() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    organization text := coalesce(current_setting('{ORGANIZATION_SETTING}', true), '');
BEGIN
    IF organization <> '' THEN
        RETURN organization::uuid;
    END IF;
    IF wbcrm_unscoped() THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'no organization is active for this tenant table'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Run the code inside tenant_context(organization), or unscoped() when it '
                     'must cross organizations (SQL: set {ORGANIZATION_SETTING} or '
                     '{UNSCOPED_SETTING}).';
END
$$;
""",
    # crm.0021: each pins its own path with pg_temp last (a path without it has PostgreSQL
    # search the caller's temporary tables first) and names our objects by schema. The policies
    # of version 2 call neither per row, so wbcrm_unscoped() no longer being inlined costs nothing.
    2: f"""
CREATE OR REPLACE FUNCTION public.wbcrm_unscoped() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(current_setting('{UNSCOPED_SETTING}', true), '') = 'on'
$$;
CREATE OR REPLACE FUNCTION public.wbcrm_current_org() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    organization text := coalesce(current_setting('{ORGANIZATION_SETTING}', true), '');
BEGIN
    IF organization <> '' THEN
        RETURN organization::uuid;
    END IF;
    IF public.wbcrm_unscoped() THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'no organization is active for this tenant table'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Run the code inside tenant_context(organization), or unscoped() when it '
                     'must cross organizations (SQL: set {ORGANIZATION_SETTING} or '
                     '{UNSCOPED_SETTING}).';
END
$$;
""",
}
DROP_FUNCTIONS = (
    "DROP FUNCTION IF EXISTS wbcrm_current_org(); DROP FUNCTION IF EXISTS wbcrm_unscoped();"
)

# Version 2 reads the settings in the policy itself: a SQL function would be inlined, and so
# parsed again, each time a statement is planned, and PL/pgSQL costs a call per statement.
# wbcrm_current_org() runs only to raise the "no organization" error.
_UNSCOPED = f"current_setting('{UNSCOPED_SETTING}', true) = 'on'"
_ORGANIZATION = (
    f"CASE WHEN {_UNSCOPED} THEN NULL "
    f"ELSE coalesce(nullif(current_setting('{ORGANIZATION_SETTING}', true), '')::uuid, "
    f"wbcrm_current_org()) END"
)

# The row condition of each policy version; a migration names the version it installs, so one
# already written keeps its SQL. Scalar subqueries are evaluated once per statement (InitPlans),
# not per row, and only when reached.
OWN_ROWS = {
    # crm.0014: the unscoped test first, then the organization from PL/pgSQL.
    1: "(SELECT wbcrm_unscoped()) OR organization_id = (SELECT wbcrm_current_org())",
    # crm.0017: the organization first: under an organization (nearly every statement) a row
    # costs one comparison and the OR stops there; in unscoped() it is NULL and the OR goes on.
    2: f"organization_id = (SELECT {_ORGANIZATION}) OR (SELECT {_UNSCOPED})",
}
LATEST = 2


# The takeover's cut-over (docs/MIGRATION.md): while wb-crm still runs, `migrate` is run with
# TENANCY_LEGACY_ROLE naming wb-crm's login, and every table put under the policies also gets this
# one letting that role through (wb-crm names no organization). tenancy_enforce drops them all.
LEGACY_ROLE_ENV = "TENANCY_LEGACY_ROLE"
CUTOVER_POLICY = "wbcrm_legacy_cutover"


def cutover_sql(table: str) -> list[str]:
    """The cut-over policy of `table` for TENANCY_LEGACY_ROLE's role; none when it is unset."""
    role = os.environ.get(LEGACY_ROLE_ENV, "")
    if not role:
        return []
    quoted = '"' + role.replace('"', '""') + '"'
    return [
        f'DROP POLICY IF EXISTS {CUTOVER_POLICY} ON "{table}"',
        # Permissive, so ORed with tenant_rows; PostgreSQL folds `true OR ...` away, so the
        # "no organization" check of tenant_rows never runs for that role.
        f'CREATE POLICY {CUTOVER_POLICY} ON "{table}" TO {quoted} USING (true) WITH CHECK (true)',
    ]


def is_policy_violation(error: BaseException) -> bool:
    """True for a database error raised by the tenant policies (a row of another organization)."""
    return getattr(error.__cause__, "pgcode", None) == INSUFFICIENT_PRIVILEGE


def enable_sql(table: str, shared_rows: bool = False, version: int = 1) -> list[str]:
    """Statements that put `table` under the tenant policies of `version` (re-runnable)."""
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        *policies_sql(table, shared_rows, version),
        *cutover_sql(table),
    ]


def policies_sql(table: str, shared_rows: bool, version: int) -> list[str]:
    """Statements that replace the tenant policies of `table` with those of `version`."""
    own = OWN_ROWS[version]
    statements = [
        *drop_policies_sql(table),
        # Every command: the active organization's rows, written with its id; all in unscoped().
        f'CREATE POLICY {ROWS_POLICY} ON "{table}" USING ({own}) WITH CHECK ({own})',
    ]
    if shared_rows:
        # Rows of no organization are read by everyone; writes still need tenant_rows.
        statements.append(
            f'CREATE POLICY {SHARED_READ_POLICY} ON "{table}" FOR SELECT '
            f"USING ({own} OR organization_id IS NULL)"
        )
    return statements


def drop_policies_sql(table: str) -> list[str]:
    """Statements that remove the tenant policies from `table` (re-runnable)."""
    return [
        f'DROP POLICY IF EXISTS {name} ON "{table}"' for name in (ROWS_POLICY, SHARED_READ_POLICY)
    ]


def disable_sql(table: str) -> list[str]:
    """Statements that take `table` out of row-level security."""
    return [
        *drop_policies_sql(table),
        f'DROP POLICY IF EXISTS {CUTOVER_POLICY} ON "{table}"',
        f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
    ]


def expected_policies(shared_rows: bool) -> set[str]:
    """The policy names a tenant table carries."""
    return {ROWS_POLICY, SHARED_READ_POLICY} if shared_rows else {ROWS_POLICY}
